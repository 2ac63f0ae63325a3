<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

/**
 * Maps MikoPBX SIP provider rows (m_Sip, plain arrays) to the PJSIP endpoint name the worker dials.
 *
 * Core names a provider's endpoint after its uniqid, except for providers with
 * registration_type "inbound", whose endpoint and AOR are named after Sip.username
 * (SIPConf endpoint naming, OutgoingContext::getTechByID). Active providers are
 * type 'friend' AND disabled <> '1', the filter core uses for pjsip.conf.
 */
final class EndpointResolver
{
    public const REG_TYPE_INBOUND = 'inbound';

    /**
     * Endpoint name of one Sip row; '' when it cannot be named (inbound provider without username).
     *
     * @param array<string, mixed> $sip keys uniqid, registration_type, username
     */
    public static function resolve(array $sip): string
    {
        if ((string)($sip['registration_type'] ?? '') === self::REG_TYPE_INBOUND) {
            return (string)($sip['username'] ?? '');
        }

        return (string)($sip['uniqid'] ?? '');
    }

    public static function isActiveProvider(array $sip): bool
    {
        return (string)($sip['type'] ?? '') === 'friend' && (string)($sip['disabled'] ?? '0') !== '1';
    }

    /**
     * @param iterable<array<string, mixed>> $sipRows rows of m_Sip (any type; phones are skipped)
     *
     * @return array<string, string> uniqid => endpoint name, active providers only
     */
    public static function activeProviderEndpoints(iterable $sipRows): array
    {
        $out = [];
        foreach ($sipRows as $row) {
            if (!self::isActiveProvider($row)) {
                continue;
            }
            $uniqid = (string)($row['uniqid'] ?? '');
            if ($uniqid === '') {
                continue;
            }
            $out[$uniqid] = self::resolve($row);
        }

        return $out;
    }
}
