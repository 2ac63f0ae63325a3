<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Ui;

use PHPUnit\Framework\TestCase;

/**
 * Every translation key the admin UI uses (Volt views, App PHP, page scripts, the validator's
 * error keys, the worker's state names) has a text in Messages/en.php and Messages/ru.php.
 * Core's translator and the browser's globalTranslate both show the bare key when one is
 * missing, so nothing else would notice.
 */
final class TranslationKeysTest extends TestCase
{
    private const ROOT = __DIR__ . '/../../..';

    /** Module keys core itself asks for (module header, sidebar, model represent). */
    private const CORE_KEYS = [
        'BreadcrumbModuleConferenceLink',
        'SubHeaderModuleConferenceLink',
        'mo_ModuleConferenceLink',
        'repModuleConferenceLink',
    ];

    /** States the UI adds to the worker's own (no status yet / worker down). */
    private const UI_STATES = ['absent', 'unknown'];

    /** @return array<string, string> */
    private static function messages(string $lang): array
    {
        $messages = require self::ROOT . "/Messages/{$lang}.php";
        self::assertIsArray($messages, "Messages/{$lang}.php must return an array");
        return $messages;
    }

    private static function read(string $relative): string
    {
        $text = file_get_contents(self::ROOT . '/' . $relative);
        self::assertIsString($text, $relative);
        return $text;
    }

    /** @return list<string> paths relative to the module root */
    private static function files(string $dir, string $suffix): array
    {
        $found = glob(self::ROOT . "/{$dir}/*{$suffix}") ?: [];
        self::assertNotEmpty($found, "no *{$suffix} files in {$dir}");
        return array_map(static fn(string $f): string => substr($f, strlen(self::ROOT) + 1), $found);
    }

    /** State names the worker reports: the literals its state machine derives. */
    private static function workerStates(): array
    {
        $fsm = self::read('python-worker/conflink/fsm.py');
        self::assertSame(1, preg_match('/def _derive_state\(self\).*?(?=\n    def |\n\S|\z)/s', $fsm, $body),
            'python-worker/conflink/fsm.py: _derive_state() not found');
        preg_match_all('/return\s+"([a-z_]+)"(?:\s+if\s+[^\n]*?else\s+"([a-z_]+)")?/', $body[0], $m);
        $states = array_values(array_filter(array_merge($m[1], $m[2])));
        self::assertGreaterThanOrEqual(8, count(array_unique($states)), 'too few states parsed from fsm.py');
        return array_values(array_unique($states));
    }

    /** @return array<string, list<string>> key => where it is used */
    private static function usedKeys(): array
    {
        $used = [];
        $add = static function (string $key, string $where) use (&$used): void {
            if (str_ends_with($key, '_')) {
                return; // a prefix such as ERROR_PREFIX, not a key
            }
            $used[$key][] = $where;
        };

        foreach (self::CORE_KEYS as $key) {
            $add($key, 'core');
        }
        $states = array_merge(self::workerStates(), self::UI_STATES);
        foreach ($states as $state) {
            $add("module_conflink_state_{$state}", 'state');
        }

        foreach (self::files('App/Views/ModuleConferenceLink', '.volt') as $file) {
            $text = self::read($file);
            preg_match_all('/t\._\(\s*([\'"])([A-Za-z0-9_]+)\1\s*\)/', $text, $m);
            foreach ($m[2] as $key) {
                $add($key, $file);
            }
            // Keys built at render time must have a known family.
            preg_match_all('/t\._\(\s*([\'"])([A-Za-z0-9_]+)\1\s*~/', $text, $m);
            foreach ($m[2] as $prefix) {
                self::assertSame('module_conflink_state_', $prefix, "{$file}: unknown dynamic key family {$prefix}");
            }
        }

        $php = array_merge(
            self::files('App/Controllers', '.php'),
            self::files('App/Forms', '.php'),
            self::files('App/Lib', '.php')
        );
        foreach ($php as $file) {
            preg_match_all('/[\'"](module_conflink_[A-Za-z0-9_]+)[\'"]/', self::read($file), $m);
            foreach ($m[1] as $key) {
                $add($key, $file);
            }
        }

        // The validator's error keys reach the page through FormResponse::invalid().
        preg_match_all('/module_conflink_error_[a-z_]+/', self::read('Lib/LinkValidator.php'), $m);
        self::assertGreaterThan(15, count(array_unique($m[0])), 'too few validator error keys parsed');
        foreach ($m[0] as $key) {
            $add($key, 'Lib/LinkValidator.php');
        }

        // Preset keys are built from the builder's table (Lib/DtmfPresets).
        foreach (\Modules\ModuleConferenceLink\Lib\DtmfPresets::PRESETS as $preset => $fields) {
            $add("module_conflink_preset_{$preset}", 'Lib/DtmfPresets.php');
            $add("module_conflink_preset_{$preset}_help", 'Lib/DtmfPresets.php');
            foreach ($fields as $field => [$required]) {
                $add("module_conflink_{$preset}_{$field}", 'Lib/DtmfPresets.php');
                $add("module_conflink_error_{$preset}_{$field}_format", 'Lib/DtmfPresets.php');
                if ($required) {
                    $add("module_conflink_error_{$preset}_{$field}_required", 'Lib/DtmfPresets.php');
                }
            }
        }
        foreach (\Modules\ModuleConferenceLink\Lib\LinkValidator::DIAL_VIA as $via) {
            $add("module_conflink_dial_via_{$via}", 'Lib/LinkValidator.php DIAL_VIA');
        }
        foreach (\Modules\ModuleConferenceLink\Lib\LinkValidator::DTMF_MODES as $mode) {
            $add("module_conflink_dtmf_mode_{$mode}", 'Lib/LinkValidator.php DTMF_MODES');
        }

        foreach (self::files('public/assets/js/src', '.js') as $file) {
            $text = self::read($file);
            // Complete literals only: 'module_conflink_x' or `module_conflink_x` (no ${…}).
            preg_match_all('/([\'`])(module_conflink_[A-Za-z0-9_]+)\1/', $text, $m);
            foreach ($m[2] as $key) {
                $add($key, $file);
            }
            preg_match_all('/globalTranslate\.([A-Za-z0-9_]+)/', $text, $m);
            foreach ($m[1] as $key) {
                $add($key, $file);
            }
            preg_match_all('/\berr\(\s*\'([a-z_]+)\'\s*\)/', $text, $m);
            foreach ($m[1] as $suffix) {
                $add("module_conflink_error_{$suffix}", $file);
            }
        }

        // Every state the page scripts colour must have a text too.
        $status = self::read('public/assets/js/src/conference-link-status.js');
        self::assertSame(1, preg_match('/const colors = \{(.*?)\};/s', $status, $colors));
        preg_match_all('/^\s*([a-z_]+):/m', $colors[1], $m);
        foreach ($m[1] as $state) {
            $add("module_conflink_state_{$state}", 'conference-link-status.js stateColor');
        }
        foreach ($states as $state) {
            self::assertContains($state, $m[1], "stateColor() has no entry for state {$state}");
        }
        return $used;
    }

    public function testEveryUsedKeyHasEnglishAndRussianText(): void
    {
        $used = self::usedKeys();
        self::assertGreaterThan(80, count($used), 'key scan found suspiciously few keys');
        foreach (['en', 'ru'] as $lang) {
            $messages = self::messages($lang);
            $missing = [];
            foreach ($used as $key => $where) {
                if (!isset($messages[$key]) || trim((string)$messages[$key]) === '') {
                    $missing[] = $key . ' (' . implode(', ', array_unique($where)) . ')';
                }
            }
            self::assertSame([], $missing, "Messages/{$lang}.php lacks texts");
        }
    }

    public function testBothLanguagesHaveTheSameKeys(): void
    {
        $en = array_keys(self::messages('en'));
        $ru = array_keys(self::messages('ru'));
        self::assertSame([], array_values(array_diff($en, $ru)), 'in en.php only');
        self::assertSame([], array_values(array_diff($ru, $en)), 'in ru.php only');
    }

    /**
     * Core builds the browser's globalTranslate by replacing ' with \' before json_encode
     * and dropping double spaces (AssetProvider::makeLocalizationAssets), so such texts
     * show a stray backslash or glued words in the page scripts: use ’ instead.
     */
    public function testTextsSurviveCoresJavaScriptExport(): void
    {
        foreach (['en', 'ru'] as $lang) {
            foreach (self::messages($lang) as $key => $text) {
                if (!in_array($key, self::CORE_KEYS, true)) {
                    self::assertStringStartsWith('module_conflink_', (string)$key, "{$lang}: {$key} lacks the module prefix");
                }
                self::assertStringNotContainsString("'", $text, "{$lang}: {$key} has an ASCII apostrophe");
                self::assertStringNotContainsString('  ', $text, "{$lang}: {$key} has a double space");
                self::assertStringNotContainsString("\n", $text, "{$lang}: {$key} has a newline");
            }
        }
    }
}
