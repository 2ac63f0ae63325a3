<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Ui;

use Modules\ModuleConferenceLink\App\Lib\LinkStatus;
use PHPUnit\Framework\TestCase;

final class LinkStatusTest extends TestCase
{
    /** A reply in the shape the worker's fsm status() produces. */
    private static function reply(): array
    {
        $log = [];
        for ($i = 0; $i < 25; $i++) {
            $log[] = ['time' => 1_767_000_000.5 + $i, 'call_id' => "c$i", 'result' => 'busy', 'cause' => "cause $i", 'duration' => 1.25];
        }
        return [
            'ok' => true,
            'ami' => ['connected' => true],
            'links' => [
                [
                    'id' => '7', 'room' => '354233', 'enabled' => true, 'state' => 'connected',
                    'state_since' => 1_767_000_100.0, 'internal_participants' => 2,
                    'external_channel' => 'PJSIP/SIP-1-00000001', 'external_since' => 1_767_000_090.0,
                    'attempts' => 2, 'max_attempts' => 5, 'last_error' => "busy\nhere",
                    'next_attempt_in' => null, 'attempt_log' => $log,
                ],
                ['id' => 'bad id!', 'state' => 'idle'],
                'not an object',
                ['id' => 8, 'state' => '<script>', 'internal_participants' => -1, 'attempts' => '3'],
            ],
        ];
    }

    public function testNormalisesAWorkerReply(): void
    {
        $status = LinkStatus::fromWorkerReply(self::reply());
        self::assertTrue($status['ok']);
        self::assertTrue($status['ami_connected']);
        self::assertSame(['7', '8'], array_map('strval', array_keys($status['links'])));
        $link = $status['links']['7'];
        self::assertSame('connected', $link['state']);
        self::assertSame(2, $link['internal_participants']);
        self::assertSame('PJSIP/SIP-1-00000001', $link['external_channel']);
        self::assertSame(1_767_000_100.0, $link['since']);
        self::assertSame(2, $link['attempts']);
        self::assertSame(5, $link['max_attempts']);
        self::assertNull($link['next_attempt_in']);
        self::assertSame('busy here', $link['last_error'], 'control characters flattened');
        self::assertCount(LinkStatus::LOG_LIMIT, $link['log']);
        self::assertSame('cause 24', $link['log'][19]['cause'], 'the most recent entries are kept');
        self::assertSame(1.3, $link['log'][0]['duration']);
    }

    public function testHostileValuesAreNeutralised(): void
    {
        $link = LinkStatus::fromWorkerReply(self::reply())['links']['8'];
        self::assertSame('unknown', $link['state']);
        self::assertNull($link['internal_participants']);
        self::assertSame(0, $link['attempts']);
        self::assertSame([], $link['log']);
        $long = LinkStatus::link(['state' => 'idle', 'last_error' => str_repeat('x', 10_000)]);
        self::assertSame(300, mb_strlen($long['last_error']));
        $bad = LinkStatus::link(['state' => 'idle', 'last_error' => "\xff\xfe", 'since' => 'yesterday']);
        self::assertTrue(mb_check_encoding($bad['last_error'], 'UTF-8'));
        self::assertNull($bad['since']);
    }

    public function testMissingFarEndModulesAreListedOnlyWhenTheWorkerSaysMissing(): void
    {
        $status = LinkStatus::fromWorkerReply(['ok' => true, 'ami' => ['connected' => true, 'modules' => [
            'func_talkdetect.so' => 'missing', 'app_waitforcond.so' => 'unknown', '<b>x</b>.so' => 'missing']], 'links' => []]);
        self::assertSame(['func_talkdetect.so'], $status['missing_modules']);
        self::assertSame([], LinkStatus::fromWorkerReply(['ok' => true, 'ami' => ['modules' => 'junk'], 'links' => []])['missing_modules']);
    }

    public function testUnreachableOrRefusingWorker(): void
    {
        self::assertSame(
            ['ok' => false, 'error' => 'worker_unreachable', 'start_problem' => '', 'ami_connected' => null,
                'missing_modules' => [], 'links' => []],
            LinkStatus::fromWorkerReply(null)
        );
        $refused = LinkStatus::fromWorkerReply(['ok' => false, 'error' => 'unauthorized']);
        self::assertFalse($refused['ok']);
        self::assertSame('unauthorized', $refused['error']);
        self::assertFalse(LinkStatus::fromWorkerReply(['ok' => 'yes', 'links' => []])['ok']);
    }

    public function testMergeIntoRows(): void
    {
        $rows = [['id' => '7'], ['id' => '9']];
        $merged = LinkStatus::mergeIntoRows($rows, LinkStatus::fromWorkerReply(self::reply()));
        self::assertSame('connected', $merged[0]['state']);
        self::assertSame('busy here', $merged[0]['live_error']);
        self::assertSame('absent', $merged[1]['state'], 'worker up, link not in its config');
        $down = LinkStatus::mergeIntoRows($rows, LinkStatus::fromWorkerReply(null));
        self::assertSame(['unknown', 'unknown'], array_column($down, 'state'));
    }

    public function testFarEndStateStepsAndStopReason(): void
    {
        $link = LinkStatus::link([
            'state' => 'connected', 'far_end' => 'sending_dtmf', 'dtmf_step' => 2, 'dtmf_steps' => 3, 'stop' => '',
        ]);
        self::assertSame(['sending_dtmf', 2, 3, ''], [$link['far_end'], $link['dtmf_step'], $link['dtmf_steps'], $link['stop']]);
        foreach (['ringing', 'waiting', 'in_meeting', 'silent', ''] as $farEnd) {
            self::assertSame($farEnd, LinkStatus::link(['far_end' => $farEnd])['far_end']);
        }
        $stopped = LinkStatus::link(['state' => 'failed', 'stop' => 'meeting_ended', 'far_end' => '']);
        self::assertSame('meeting_ended', $stopped['stop']);
        // A 0.1.0 worker sends none of these; hostile values are dropped.
        self::assertSame(['', null, null, ''], array_values(array_intersect_key(
            LinkStatus::link(['state' => 'idle']),
            array_flip(['far_end', 'dtmf_step', 'dtmf_steps', 'stop'])
        )));
        $bad = LinkStatus::link(['far_end' => '<b>x</b>', 'dtmf_step' => [1, 2], 'dtmf_steps' => -1, 'stop' => 'Meeting Ended!']);
        self::assertSame(['', null, null, ''], [$bad['far_end'], $bad['dtmf_step'], $bad['dtmf_steps'], $bad['stop']]);
        $rows = LinkStatus::mergeIntoRows([['id' => '7'], ['id' => '9']], LinkStatus::fromWorkerReply([
            'ok' => true, 'links' => [['id' => '7', 'state' => 'connected', 'far_end' => 'waiting']],
        ]));
        self::assertSame(['waiting', ''], array_column($rows, 'far_end'));
    }

    public function testDtmfStepsOfAnAttempt(): void
    {
        $link = LinkStatus::link(['state' => 'connected', 'attempt_log' => [[
            'time' => 1_767_000_000.0, 'result' => 'connected', 'dtmf' => [
                ['time' => 100.0, 'step' => 1, 'steps' => 2, 'event' => 'waiting', 'detail' => 'x'],
                ['time' => 100.5, 'step' => 1, 'steps' => 2, 'event' => 'prompt_heard', 'detail' => ''],
                ['time' => 103.26, 'step' => 1, 'steps' => 2, 'event' => 'silence', 'detail' => '1 s'],
                ['time' => 103.3, 'step' => 1, 'steps' => 2, 'event' => 'sent', 'detail' => '9 digit(s)'],
                ['time' => 123.3, 'step' => 2, 'steps' => 2, 'event' => 'timeout', 'detail' => ''],
                ['time' => 124.0, 'step' => 2, 'steps' => 2, 'event' => '<script>', 'detail' => ''],
                'junk',
            ],
        ]]]);
        self::assertSame([
            ['step' => 1, 'steps' => 2, 'event' => 'waiting', 'at' => 0.0],
            ['step' => 1, 'steps' => 2, 'event' => 'prompt_heard', 'at' => 0.5],
            ['step' => 1, 'steps' => 2, 'event' => 'silence', 'at' => 3.3],
            ['step' => 1, 'steps' => 2, 'event' => 'sent', 'at' => 3.3],
            ['step' => 2, 'steps' => 2, 'event' => 'timeout', 'at' => 23.3],
        ], $link['log'][0]['dtmf']);
        self::assertSame([], LinkStatus::link(['attempt_log' => [['result' => 'busy']]])['log'][0]['dtmf']);
    }
}
