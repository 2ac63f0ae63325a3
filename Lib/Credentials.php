<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

/**
 * The module's own secrets: AMI user and secret, control token. Generated once at install,
 * kept across reinstalls (installDB runs again on every upgrade) unless they are unusable.
 */
final class Credentials
{
    public const AMI_USER_PREFIX = 'conflink_';
    public const DEFAULT_CONTROL_PORT = 7391;

    private const AMI_USER_RE = '/^[A-Za-z0-9_.@-]{1,64}$/D';
    private const SECRET_RE = '/^[0-9a-f]{32,128}$/D';
    private const TOKEN_RE = '/^[\x21-\x7E]{16,256}$/D';

    public static function newAmiUsername(): string
    {
        return self::AMI_USER_PREFIX . bin2hex(random_bytes(4));
    }

    public static function newSecret(): string
    {
        return bin2hex(random_bytes(16));
    }

    public static function newToken(): string
    {
        return bin2hex(random_bytes(24));
    }

    /**
     * Fills in whatever is missing or unusable; keeps good existing values (idempotent install).
     *
     * @param array<string, mixed> $current ami_username, ami_secret, control_token, control_port
     *
     * @return array{ami_username: string, ami_secret: string, control_token: string, control_port: string}
     */
    public static function complete(array $current): array
    {
        $user   = (string)($current['ami_username'] ?? '');
        $secret = (string)($current['ami_secret'] ?? '');
        $token  = (string)($current['control_token'] ?? '');
        $port   = (string)($current['control_port'] ?? '');

        return [
            'ami_username'  => preg_match(self::AMI_USER_RE, $user) === 1 ? $user : self::newAmiUsername(),
            'ami_secret'    => preg_match(self::SECRET_RE, $secret) === 1 ? $secret : self::newSecret(),
            'control_token' => preg_match(self::TOKEN_RE, $token) === 1 ? $token : self::newToken(),
            'control_port'  => self::isPort($port) ? (string)(int)$port : (string)self::DEFAULT_CONTROL_PORT,
        ];
    }

    public static function isPort(string $port): bool
    {
        return preg_match('/^[0-9]{1,5}$/D', $port) === 1 && (int)$port >= 1 && (int)$port <= 65535;
    }
}
