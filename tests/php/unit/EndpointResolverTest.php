<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use Modules\ModuleConferenceLink\Lib\EndpointResolver;
use PHPUnit\Framework\TestCase;

final class EndpointResolverTest extends TestCase
{
    public function testOutboundAndNoneUseTheUniqid(): void
    {
        self::assertSame('SIP-1601534775', EndpointResolver::resolve(['uniqid' => 'SIP-1601534775', 'registration_type' => 'outbound', 'username' => 'u1']));
        self::assertSame('SIP-TRUNK-1A2B3C4D', EndpointResolver::resolve(['uniqid' => 'SIP-TRUNK-1A2B3C4D', 'registration_type' => 'none', 'username' => 'u2']));
        self::assertSame('SIP-X', EndpointResolver::resolve(['uniqid' => 'SIP-X']));
    }

    public function testInboundUsesTheUsername(): void
    {
        self::assertSame('trunkuser', EndpointResolver::resolve(['uniqid' => 'SIP-1', 'registration_type' => 'inbound', 'username' => 'trunkuser']));
        self::assertSame('', EndpointResolver::resolve(['uniqid' => 'SIP-1', 'registration_type' => 'inbound', 'username' => '']));
    }

    public function testOnlyActiveProvidersAreListed(): void
    {
        $rows = [
            ['uniqid' => 'SIP-A', 'type' => 'friend', 'disabled' => '0', 'registration_type' => 'outbound', 'username' => 'a'],
            ['uniqid' => 'SIP-B', 'type' => 'friend', 'disabled' => '1', 'registration_type' => 'outbound', 'username' => 'b'],
            ['uniqid' => 'SIP-C', 'type' => 'peer', 'disabled' => '0', 'registration_type' => 'outbound', 'username' => '201'],
            ['uniqid' => 'SIP-D', 'type' => 'friend', 'disabled' => null, 'registration_type' => 'inbound', 'username' => 'dd'],
            ['uniqid' => '', 'type' => 'friend', 'disabled' => '0'],
        ];
        self::assertSame(['SIP-A' => 'SIP-A', 'SIP-D' => 'dd'], EndpointResolver::activeProviderEndpoints($rows));
    }
}
