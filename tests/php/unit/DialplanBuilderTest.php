<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use InvalidArgumentException;
use Modules\ModuleConferenceLink\Lib\ConferenceLinkConf;
use Modules\ModuleConferenceLink\Lib\DialplanBuilder;
use Modules\ModuleConferenceLink\Lib\LinkValidator;
use PHPUnit\Framework\TestCase;

final class DialplanBuilderTest extends TestCase
{
    private static function priorities(string $text): array
    {
        $apps = [];
        foreach (explode("\n", $text) as $line) {
            if (preg_match('/^\s*(?:exten => _X!,1|same => n(?:\([a-z]+\))?),(.*)$/', $line, $m) === 1) {
                $apps[] = $m[1];
            }
        }
        return $apps;
    }

    private static function indexOf(array $apps, string $prefix): int
    {
        foreach ($apps as $i => $app) {
            if (str_starts_with($app, $prefix)) {
                return $i;
            }
        }
        self::fail("no priority starting with {$prefix}");
    }

    public function testContextHeaderAndPattern(): void
    {
        $text = (new DialplanBuilder())->build();
        self::assertStringStartsWith("[conflink-join]\n", $text);
        self::assertStringContainsString("\nexten => _X!,1,", $text);
        self::assertStringEndsWith("\n\n", $text, 'a blank line separates it from the next context');
    }

    public function testEveryLineIsDialplanSyntax(): void
    {
        foreach (explode("\n", (new DialplanBuilder())->build()) as $line) {
            self::assertMatchesRegularExpression(
                '/^(|\[conflink-join\]|;.*|exten => _X!,1,\S.*|    same => n(\([a-z]+\))?,\S.*)$/',
                $line
            );
        }
    }

    public function testCoreCdrStepsThenDtmfThenRoom(): void
    {
        $apps = self::priorities((new DialplanBuilder())->build());
        $agi      = self::indexOf($apps, 'AGI(meetme_dial.php)');
        $handler  = self::indexOf($apps, 'Set(CHANNEL(hangup_handler_wipe)=hangup_handler_meetme,s,1)');
        $wait     = self::indexOf($apps, 'ExecIf($["${CONFLINK_DTMF}" != "" & ${CONFLINK_DTMF_DELAY_MS} > 0]?Wait(');
        $dtmf     = self::indexOf($apps, 'ExecIf($["${CONFLINK_DIGITS}" != ""]?SendDTMF(${CONFLINK_DIGITS},250))');
        $quiet    = self::indexOf($apps, 'Set(CONFBRIDGE(user,quiet)=yes)');
        $moh      = self::indexOf($apps, 'Set(CONFBRIDGE(user,music_on_hold_when_empty)=no)');
        $only     = self::indexOf($apps, 'Set(CONFBRIDGE(user,announce_only_user)=no)');
        $bridge   = self::indexOf($apps, 'ConfBridge(${EXTEN})');
        $hangup   = self::indexOf($apps, 'Hangup()');
        self::assertLessThan($handler, $agi, 'CDR row exists before the handler that closes it');
        self::assertLessThan($wait, $handler);
        self::assertLessThan($dtmf, $wait);
        self::assertLessThan($bridge, $dtmf);
        self::assertLessThan($bridge, $quiet);
        self::assertLessThan($bridge, $moh);
        self::assertLessThan($bridge, $only);
        self::assertSame(count($apps) - 1, $hangup);
    }

    public function testEveryChannelVariableIsFilteredBeforeUse(): void
    {
        $apps = self::priorities((new DialplanBuilder())->build());
        $filters = [
            'CONFLINK_LINK'          => 'Set(CONFLINK_LINK=${FILTER(A-Za-z0-9_,${CONFLINK_LINK})})',
            'CONFLINK_DTMF'          => 'Set(CONFLINK_DTMF=${FILTER(0-9*#ABCDwWp,${CONFLINK_DTMF})})',
            'CONFLINK_PROMPT_SILENCE_MS' => 'Set(CONFLINK_PROMPT_SILENCE_MS=${FILTER(0-9,${CONFLINK_PROMPT_SILENCE_MS})})',
            'CONFLINK_PROMPT_TIMEOUT_MS' => 'Set(CONFLINK_PROMPT_TIMEOUT_MS=${FILTER(0-9,${CONFLINK_PROMPT_TIMEOUT_MS})})',
            'CONFLINK_DTMF_MODE'     => 'Set(CONFLINK_DTMF_MODE=${FILTER(a-z0-9,${CONFLINK_DTMF_MODE})})',
            'CONFLINK_DTMF_DELAY_MS' => 'Set(CONFLINK_DTMF_DELAY_MS=${FILTER(0-9,${CONFLINK_DTMF_DELAY_MS})})',
            'CONFLINK_NUMBER'        => 'Set(CONFLINK_NUMBER=${FILTER(0-9*#+,${CONFLINK_NUMBER})})',
        ];
        foreach ($filters as $var => $filter) {
            $at = array_search($filter, $apps, true);
            self::assertIsInt($at, "{$var} is filtered");
            foreach ($apps as $i => $app) {
                if (str_contains($app, '${' . $var . '}') && $app !== $filter) {
                    self::assertGreaterThan($at, $i, "{$var} used before FILTER: {$app}");
                }
            }
        }
    }

    public function testNoPinPromptNoConferenceRoomsNoMusicWhenAlone(): void
    {
        $text = (new DialplanBuilder())->build();
        self::assertStringNotContainsString('conference-rooms', $text);
        self::assertStringNotContainsString('CONFBRIDGE(user,pin)', $text);
        self::assertStringNotContainsString('music_on_hold_when_empty)=yes', $text);
        self::assertStringNotContainsString('set-answer-state', $text, 'MikoPBX-only context; plain Asterisk must load this');
    }

    public function testDelayIsCappedAt60Seconds(): void
    {
        $text = (new DialplanBuilder())->build();
        self::assertStringContainsString('ExecIf($[${CONFLINK_DTMF_DELAY_MS} > 60000]?Set(CONFLINK_DTMF_DELAY_MS=60000))', $text);
    }

    public function testCustomContextName(): void
    {
        self::assertStringStartsWith("[lab_join-2]\n", (new DialplanBuilder('lab_join-2'))->build());
    }

    /** @return iterable<string, array{string}> */
    public static function badContexts(): iterable
    {
        yield 'empty' => [''];
        yield 'bracket' => ['a]b'];
        yield 'newline' => ["a\nb"];
        yield 'trailing newline' => ["conflink-join\n"];
        yield 'space' => ['a b'];
        yield 'too long' => [str_repeat('a', 80)];
        yield 'comma' => ['a,b'];
    }

    /** @dataProvider badContexts */
    public function testBadContextNameRejected(string $name): void
    {
        $this->expectException(InvalidArgumentException::class);
        $this->expectExceptionMessage('dialplan.join_context');
        new DialplanBuilder($name);
    }

    public function testCliPrintsExactlyTheHookOutput(): void
    {
        $script = dirname(__DIR__, 3) . '/bin/conflink-dialplan.php';
        $proc   = proc_open([PHP_BINARY, $script], [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        self::assertIsResource($proc);
        $cli = stream_get_contents($pipes[1]);
        self::assertSame('', stream_get_contents($pipes[2]));
        fclose($pipes[1]);
        fclose($pipes[2]);
        self::assertSame(0, proc_close($proc));
        $hook = (new ConferenceLinkConf())->extensionGenContexts();
        self::assertSame($hook, $cli);
        self::assertSame((new DialplanBuilder())->buildAll(), $hook);
    }

    public function testAnnouncerContextJoinsTheRoomQuietlyAndTheJoinWaitIsBounded(): void
    {
        $text = (new DialplanBuilder('ctx-1'))->buildAnnounce();
        self::assertStringStartsWith("[ctx-1-announce]\n", $text);
        foreach (explode("\n", $text) as $line) {
            self::assertMatchesRegularExpression('/^(|\[ctx-1-announce\]|;.*|exten => _X!,1,\S.*|    same => n,\S.*)$/', $line);
        }
        $apps = self::priorities($text);
        self::assertSame(['Set(CONFBRIDGE(user,quiet)=yes)', 'Set(CONFBRIDGE(user,music_on_hold_when_empty)=no)',
            'Set(CONFBRIDGE(user,announce_only_user)=no)', 'ConfBridge(${EXTEN})', 'Hangup()'], $apps);
        $join = self::priorities((new DialplanBuilder())->build());
        $wait = self::indexOf($join, 'ExecIf($[${CONFLINK_ANNOUNCE_MS} > 0]?Wait($[${CONFLINK_ANNOUNCE_MS} / 1000]))');
        self::assertLessThan(self::indexOf($join, 'ConfBridge(${EXTEN})'), $wait);
        self::assertContains('Set(CONFLINK_ANNOUNCE_MS=0${FILTER(0-9,${CONFLINK_ANNOUNCE_MS})})', $join, 'filtered before use');
        self::assertContains('ExecIf($[${CONFLINK_ANNOUNCE_MS} > 5000]?Set(CONFLINK_ANNOUNCE_MS=5000))', $join, 'bounded');
    }

    public function testRouteContextChecksTheNumberSetsTheCallerIdAndHandsOverToCoresOutgoing(): void
    {
        // The join context's name does not move it: the worker dials Local/<n>@conflink-route/n.
        $text = (new DialplanBuilder('ctx-1'))->buildRoute();
        self::assertStringStartsWith("[conflink-route]\n", $text);
        $apps = [];
        foreach (explode("\n", $text) as $line) {
            self::assertMatchesRegularExpression('/^(|\[conflink-route\]|;.*|exten => _\[0-9\+\*#\]!,1,\S.*|    same => n(\([a-z]+\))?,\S.*)$/', $line);
            if (preg_match('/^\s*(?:exten => \S+,1|same => n(?:\([a-z]+\))?),(.*)$/', $line, $m) === 1) {
                $apps[] = $m[1];
            }
        }
        self::assertSame([
            'GotoIf($[${REGEX("^[0-9+*#]{1,32}$" ${EXTEN})} = 1]?number)',
            'Hangup(28)',
            'Set(FEATUREMAP(blindxfer)=)',
            'Set(FEATUREMAP(atxfer)=)',
            'Set(FEATUREMAP(parkcall)=)',
            'Set(CONFLINK_CALLERID=${FILTER(0-9+,${CONFLINK_CALLERID})})',
            'ExecIf($["${CONFLINK_CALLERID}" != ""]?Set(CALLERID(all)=${CONFLINK_CALLERID} <${CONFLINK_CALLERID}>))',
            'Goto(outgoing,${EXTEN},1)',
        ], $apps);
        // The number check is the link's number rule, the one in the validator and the worker.
        self::assertSame(LinkValidator::NUMBER_RE, '/' . DialplanBuilder::NUMBER_REGEX . '/D');
        self::assertStringEndsWith($text, (new DialplanBuilder('ctx-1'))->buildAll(), 'buildAll ends with the route context');
    }

    public function testCliRejectsArguments(): void
    {
        $script = dirname(__DIR__, 3) . '/bin/conflink-dialplan.php';
        exec(escapeshellarg(PHP_BINARY) . ' ' . escapeshellarg($script) . ' extra 2>/dev/null', $out, $code);
        self::assertSame(2, $code);
    }

    public function testPromptStepsWaitForTheWorkersReleaseWithABound(): void
    {
        $apps = self::priorities((new DialplanBuilder())->build());
        $talk    = self::indexOf($apps, 'Set(TALK_DETECT(set)=${CONFLINK_PROMPT_SILENCE_MS})');
        $prompt  = self::indexOf($apps, 'UserEvent(ConflinkDtmf,Step: ${CONFLINK_STEP},Steps: ${CONFLINK_STEPS},Phase: prompt)');
        $wait    = self::indexOf($apps, 'TryExec(WaitForCondition(~,~["~{CONFLINK_GO}" = "${CONFLINK_STEP}"],$[${CONFLINK_PROMPT_TIMEOUT_MS} / 1000 + 5],0.02))');
        $dtmf    = self::indexOf($apps, 'ExecIf($["${CONFLINK_DIGITS}" != ""]?SendDTMF(');
        $sent    = self::indexOf($apps, 'UserEvent(ConflinkDtmf,Step: ${CONFLINK_STEP},Steps: ${CONFLINK_STEPS},Phase: sent,Digits: ${LEN(');
        $bridge  = self::indexOf($apps, 'ConfBridge(${EXTEN})');
        self::assertLessThan($prompt, $talk, 'talk events run before the first prompt wait');
        self::assertLessThan($wait, $prompt, 'the worker hears of the step before it must release it');
        self::assertLessThan($dtmf, $wait);
        self::assertLessThan($sent, $dtmf);
        self::assertLessThan($bridge, $sent);
        self::assertStringNotContainsString('Digits: ${CONFLINK_DIGITS}', implode("\n", $apps), 'passcodes stay out of AMI');
    }

    public function testDtmfModeOnlyFromTheKnownValues(): void
    {
        $text = (new DialplanBuilder())->build();
        self::assertStringContainsString(
            '"${CONFLINK_DTMF_MODE}" = "rfc4733" | "${CONFLINK_DTMF_MODE}" = "inband" | "${CONFLINK_DTMF_MODE}" = "info"]?Set(PJSIP_DTMF_MODE()=${CONFLINK_DTMF_MODE})',
            $text
        );
    }

    public function testPromptBoundsFollowThePythonLimits(): void
    {
        $config = (string) file_get_contents(__DIR__ . '/../../../python-worker/conflink/config.py');
        self::assertStringContainsString('"prompt_silence": Limit(0.2, 5, False, 1.0),', $config);
        self::assertStringContainsString('"prompt_timeout": Limit(1, 120, False, 20.0),', $config);
        self::assertSame([1000, 200, 5000], DialplanBuilder::PROMPT_SILENCE_MS);
        self::assertSame([20000, 1000, 120000], DialplanBuilder::PROMPT_TIMEOUT_MS);
    }

    public function testModulesTheContextNeedsAreLoaded(): void
    {
        self::assertSame("load => func_talkdetect.so\nload => app_waitforcond.so\nload => func_module.so\nload => func_base64.so\n",
            DialplanBuilder::modulesConf(), 'func_base64: the call-history row (CallHistoryDialplan)');
        $text = (new DialplanBuilder())->build();
        self::assertStringContainsString('TALK_DETECT(set)', $text);
        self::assertStringContainsString('WaitForCondition(', $text);
    }
}
