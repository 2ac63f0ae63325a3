<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

/**
 * The module's WAF exemptions in the shorthand core's WafRegistry reads from
 * ConfigClass::getWafExemptions(): exact request path => list of scopes. Only the link save
 * is exempt from the POST body scan (its free-text fields trip the SQL patterns); the REST
 * call controls carry ids and numbers only and stay scanned.
 */
final class WafExemptions
{
    /** Admin path of the module's controller: /admin-cabinet/<uncamelized id>/<uncamelized controller>. */
    public const ADMIN_BASE = 'module-conference-link/module-conference-link';
    public const SAVE_URI = '/admin-cabinet/' . self::ADMIN_BASE . '/save';
    public const BODY_SCAN = 'body-scan';

    /** @return array<string, list<string>> */
    public static function declared(): array
    {
        return [self::SAVE_URI => [self::BODY_SCAN]];
    }
}
