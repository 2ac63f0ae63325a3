<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 *
 * This program is free software: you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

use InvalidArgumentException;

/**
 * Renders the worker config document, schema v1 (design.md contract), as YAML text.
 *
 * Plain arrays in, text out: no Phalcon, no yaml extension. Every string is emitted
 * double-quoted (PyYAML would read an unquoted 0354233 or +4930123 as an int), numbers
 * that the schema wants as floats always carry a decimal point, and only the schema's keys
 * are written (the worker rejects unknown keys).
 *
 * Each link row is validated again with LinkValidator against the current rooms and
 * providers: a row that went stale (its provider was disabled, its room removed) is left
 * out and reported in RenderedConfig::$skipped instead of making the worker refuse the
 * whole document.
 */
final class ConfigRenderer
{
    public const SCHEMA_VERSION = 1;
    public const DEFAULT_CONTROL_PORT = 7391;

    private const AMI_USER_RE = '/^[A-Za-z0-9_.@-]{1,64}$/D';
    private const SECRET_RE = '/^[\x20-\x7E]{1,128}$/D';
    private const TOKEN_RE = '/^[\x21-\x7E]{1,256}$/D';
    private const HOST_RE = '/^[A-Za-z0-9.:-]{1,253}$/D';
    public const CONTROL_RE = '~^(?:tcp://(?:127\.0\.0\.1|localhost|\[::1\]):([0-9]{1,5})|ipc:///[\x21-\x7E]{1,99})$~D';

    /**
     * @param list<array<string, mixed>> $links             m_ConferenceLinks rows
     * @param array<string, string>       $rooms             existing conference rooms: uniqid => extension
     * @param array<string, string>       $providerEndpoints active provider uniqid => endpoint name
     * @param array<string, mixed>        $settings          ami_host, ami_port, ami_username, ami_secret,
     *                                                       control_endpoint, control_token, join_context
     *
     * @throws InvalidArgumentException when a global setting breaks the schema (names the key)
     */
    /**
     * The worker's rule (conflink.config.control_endpoint_error; tests/php/unit/LimitsAgreementTest.php).
     */
    public static function validControlEndpoint(string $endpoint): bool
    {
        return preg_match(self::CONTROL_RE, $endpoint, $m) === 1
            && (!isset($m[1]) || $m[1] === '' || ((int)$m[1] >= 1 && (int)$m[1] <= 65535));
    }

    public function render(array $links, array $rooms, array $providerEndpoints, array $settings): RenderedConfig
    {
        $validator = new LinkValidator($rooms, $providerEndpoints);
        $out       = [];
        $skipped   = [];
        $seen      = [];
        foreach ($links as $row) {
            $id = (string)($row['id'] ?? '');
            if (preg_match(LinkValidator::LINK_ID_RE, $id) !== 1 || isset($seen[$id])) {
                $skipped[] = ['id' => $id, 'errors' => ['id' => LinkValidator::ERROR_PREFIX . 'id']];
                continue;
            }
            $result = $validator->check($row);
            if (!$result->isValid()) {
                $skipped[] = ['id' => $id, 'errors' => $result->errors];
                continue;
            }
            $seen[$id] = true;
            $out[]     = $this->linkLines(
                $id,
                $result->values,
                (string)$validator->roomExtension($result->values['conference_uniqid']),
                $providerEndpoints[$result->values['provider_uniqid']] ?? ''
            );
        }

        return new RenderedConfig($this->document($settings, $out), $skipped);
    }

    /**
     * @param list<list<string>> $links rendered link blocks
     */
    private function document(array $settings, array $links): string
    {
        $host = (string)($settings['ami_host'] ?? '127.0.0.1');
        if (preg_match(self::HOST_RE, $host) !== 1) {
            throw new InvalidArgumentException('ami.host: not a host name or IP address');
        }
        $port = $settings['ami_port'] ?? '5038';
        if (!is_int($port) && !(is_string($port) && preg_match('/^[0-9]{1,5}$/D', $port) === 1)) {
            throw new InvalidArgumentException('ami.port: must be an integer 1-65535');
        }
        $port = (int)$port;
        if ($port < 1 || $port > 65535) {
            throw new InvalidArgumentException('ami.port: must be an integer 1-65535');
        }
        $user = (string)($settings['ami_username'] ?? '');
        if (preg_match(self::AMI_USER_RE, $user) !== 1) {
            throw new InvalidArgumentException('ami.username: must match ^[A-Za-z0-9_.@-]{1,64}$');
        }
        $secret = (string)($settings['ami_secret'] ?? '');
        if (preg_match(self::SECRET_RE, $secret) !== 1) {
            throw new InvalidArgumentException('ami.secret: must be 1-128 printable ASCII characters');
        }
        $endpoint = (string)($settings['control_endpoint'] ?? 'tcp://127.0.0.1:' . self::DEFAULT_CONTROL_PORT);
        if (!self::validControlEndpoint($endpoint)) {
            throw new InvalidArgumentException('control.endpoint: must be tcp://127.0.0.1:<port>, tcp://localhost:<port>, tcp://[::1]:<port> or ipc://<absolute path>');
        }
        $token = (string)($settings['control_token'] ?? '');
        if ($token !== '' && preg_match(self::TOKEN_RE, $token) !== 1) {
            throw new InvalidArgumentException('control.token: must be printable ASCII without whitespace, at most 256');
        }
        $context = (string)($settings['join_context'] ?? DialplanBuilder::DEFAULT_CONTEXT);
        // Same rule as the dialplan builder; its exception names the key.
        new DialplanBuilder($context);

        $lines = [
            '# Worker config for ModuleConferenceLink, generated from the module database.',
            '# Changes made here are overwritten on the next save in the web interface.',
            'version: ' . self::SCHEMA_VERSION,
            'ami:',
            '  host: ' . self::quote($host),
            '  port: ' . $port,
            '  username: ' . self::quote($user),
            '  secret: ' . self::quote($secret),
            'control:',
            '  endpoint: ' . self::quote($endpoint),
        ];
        if ($token !== '') {
            $lines[] = '  token: ' . self::quote($token);
        }
        $lines[] = 'dialplan:';
        $lines[] = '  join_context: ' . self::quote($context);
        if ($links === []) {
            $lines[] = 'links: []';
        } else {
            $lines[] = 'links:';
            foreach ($links as $block) {
                array_push($lines, ...$block);
            }
        }

        return implode("\n", $lines) . "\n";
    }

    /**
     * @param array<string, string> $v        validated, canonical column values
     * @param string                $endpoint the provider's endpoint; '' with dial_via routes (not written)
     *
     * @return list<string>
     */
    private function linkLines(string $id, array $v, string $room, string $endpoint): array
    {
        $backoff = array_map(
            static fn (string $item): string => self::float((float)$item),
            explode(',', $v['backoff'])
        );

        $lines = [
            '  - id: ' . self::quote($id),
            '    room: ' . self::quote($room),
            '    enabled: ' . self::bool($v['enabled']),
            '    endpoint: ' . self::quote($endpoint),
            '    number: ' . self::quote($v['dst_number']),
            '    dtmf: ' . self::quote($v['dtmf']),
            '    dtmf_delay: ' . self::float((float)$v['dtmf_delay']),
            '    callerid: ' . self::quote($v['callerid']),
            '    ring_timeout: ' . (int)$v['ring_timeout'],
            '    arm_delay: ' . self::float((float)$v['arm_delay']),
            '    linger: ' . self::float((float)$v['linger']),
            '    retry:',
            '      max_attempts: ' . (int)$v['max_attempts'],
            '      backoff: [' . implode(', ', $backoff) . ']',
            '      redial_on_drop: ' . self::bool($v['redial_on_drop']),
        ];
        // The 0.2.0 far-end keys are written only when they differ from the default (the
        // worker applies the same defaults): a link that does not use them renders exactly as
        // in 0.1.0.
        $farEnd = [
            'prompt_silence' => self::float((float)$v['prompt_silence']),
            'prompt_timeout' => self::float((float)$v['prompt_timeout']),
            'dtmf_mode'      => self::quote($v['dtmf_mode']),
            'dead_air'       => (string)(int)$v['dead_air'],
            'end_cooldown'   => (string)(int)$v['end_cooldown'],
            'room_keys'      => self::quote($v['room_keys']),
            'max_call_minutes' => (string)(int)$v['max_call_minutes'],
            'daily_minutes'    => (string)(int)$v['daily_minutes'],
            'schedule'         => '[' . implode(', ', array_map([self::class, 'quote'],
                array_values(array_filter(explode("\n", $v['schedule']), 'strlen')))) . ']',
            'schedule_end'     => self::quote($v['schedule_end']),
            'announce'         => self::bool($v['announce']),
            'dial_via'         => self::quote($v['dial_via']),
        ];
        foreach ($farEnd as $key => $text) {
            if ($v[$key] !== LinkValidator::DEFAULTS[$key]) {
                $lines[] = "    {$key}: {$text}";
            }
        }

        if ($v['dial_via'] === LinkValidator::DIAL_VIA_ROUTES) {
            // The PBX's routes choose the provider: no endpoint for the worker to dial.
            $lines = array_values(array_filter($lines, static fn (string $l): bool => !str_starts_with($l, '    endpoint: ')));
        }

        return $lines;
    }

    /**
     * YAML double-quoted scalar. Validated values never need more than \\ and \", but anything
     * below 0x20 or DEL is escaped too, so no input can break out of the scalar or the line.
     */
    public static function quote(string $value): string
    {
        $escaped = preg_replace_callback(
            '/[\x00-\x1F\x7F"\\\\]/',
            static function (array $m): string {
                return match ($m[0]) {
                    '"'     => '\\"',
                    '\\'    => '\\\\',
                    default => sprintf('\\x%02X', ord($m[0])),
                };
            },
            $value
        );

        return '"' . $escaped . '"';
    }

    /** A YAML float that stays a float for PyYAML: 1 → "1.0", 0.25 → "0.25". */
    public static function float(float $value): string
    {
        $text = LinkValidator::formatFloat($value);

        return str_contains($text, '.') ? $text : $text . '.0';
    }

    private static function bool(string $flag): string
    {
        return $flag === '1' ? 'true' : 'false';
    }
}
