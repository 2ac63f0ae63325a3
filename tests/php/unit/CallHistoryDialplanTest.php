<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use Modules\ModuleConferenceLink\Lib\CallHistoryDialplan;
use Modules\ModuleConferenceLink\Lib\DialplanBuilder;
use PHPUnit\Framework\TestCase;

/**
 * The call-history extensions of the join context (Lib/CallHistoryDialplan.php): the cause →
 * dialstatus table, the rendered text, and that only filtered values reach the row's JSON.
 * The real Asterisk runs them in tests/mikopbx/test_call_history.py.
 */
final class CallHistoryDialplanTest extends TestCase
{
    /** Extension name => its applications, in order. */
    private static function extensions(string $text): array
    {
        $out = [];
        $current = null;
        foreach (explode("\n", $text) as $line) {
            if (preg_match('/^exten => ([A-Za-z_X!]+),1,(.*)$/', $line, $m) === 1) {
                $current = $m[1];
                $out[$current] = [$m[2]];
            } elseif ($current !== null && preg_match('/^    same => n(?:\([a-z]+\))?,(.*)$/', $line, $m) === 1) {
                $out[$current][] = $m[1];
            }
        }
        return $out;
    }

    private static function pos(array $apps, string $prefix): int
    {
        foreach ($apps as $i => $app) {
            if (str_starts_with($app, $prefix)) {
                return $i;
            }
        }
        self::fail("no application starting with {$prefix}");
    }

    public function testCausesMapToCoresDialstatusLikeAppDial(): void
    {
        self::assertSame('BUSY', CallHistoryDialplan::dialstatus(17));        // 486
        self::assertSame('CHANUNAVAIL', CallHistoryDialplan::dialstatus(1));  // 404
        self::assertSame('CHANUNAVAIL', CallHistoryDialplan::dialstatus(21)); // 603
        self::assertSame('CONGESTION', CallHistoryDialplan::dialstatus(34));  // 503
        self::assertSame('NOANSWER', CallHistoryDialplan::dialstatus(19));    // ring timeout
        self::assertSame('CANCEL', CallHistoryDialplan::dialstatus(16));      // our hang-up while ringing
        // no cause from the worker: the Originate's REASON
        self::assertSame('NOANSWER', CallHistoryDialplan::dialstatus(0, 3));
        self::assertSame('BUSY', CallHistoryDialplan::dialstatus(0, 5));
        self::assertSame('CONGESTION', CallHistoryDialplan::dialstatus(0, 8));
        self::assertSame('CHANUNAVAIL', CallHistoryDialplan::dialstatus(0, 0));
        // a cause wins over REASON
        self::assertSame('BUSY', CallHistoryDialplan::dialstatus(17, 3));
    }

    public function testTheDialplanCarriesExactlyTheTable(): void
    {
        $failed = self::extensions(CallHistoryDialplan::extensions())['failed'];
        foreach (CallHistoryDialplan::REASON_CAUSE as $reason => $cause) {
            self::assertContains("ExecIf(\$[\${CONFLINK_CAUSE} = 0 & \"\${REASON}\" = \"{$reason}\"]?Set(CONFLINK_CAUSE={$cause}))", $failed);
        }
        $default = self::pos($failed, 'Set(CONFLINK_DIALSTATUS=' . CallHistoryDialplan::OTHER_DIALSTATUS . ')');
        foreach (CallHistoryDialplan::CAUSE_DIALSTATUS as $cause => $status) {
            $i = array_search("ExecIf(\$[\${CONFLINK_CAUSE} = {$cause}]?Set(CONFLINK_DIALSTATUS={$status}))", $failed, true);
            self::assertIsInt($i, "cause {$cause}");
            self::assertGreaterThan($default, $i, 'the default comes first, the table overrides it');
        }
    }

    public function testEveryFilterKeepsTheDashOfCallIdsAndChannelNames(): void
    {
        preg_match_all('/FILTER\(([^,]*),/', CallHistoryDialplan::extensions(), $m);
        foreach ($m[1] as $allowed) {
            self::assertFalse(str_ends_with($allowed, '-') && strlen($allowed) > 1,
                "FILTER({$allowed}) drops '-': Asterisk reads a trailing '-' as an empty range");
        }
        self::assertStringContainsString('FILTER(-A-Za-z0-9_,${CONFLINK_CALL_ID})', CallHistoryDialplan::extensions());
    }

    public function testEveryLineIsDialplanSyntaxAndNamesNoContext(): void
    {
        foreach (explode("\n", CallHistoryDialplan::extensions()) as $line) {
            self::assertMatchesRegularExpression('/^(|;.*|exten => (failed|history|historyrow),1,\S.*|    same => n(\([a-z]+\))?,\S.*)$/', $line);
        }
        self::assertStringNotContainsString('[', explode("\n", CallHistoryDialplan::extensions())[0]);
    }

    public function testTheFailedStandInAsksTheWorkerWithABoundAndSkipsRoutedCalls(): void
    {
        $failed = self::extensions(CallHistoryDialplan::extensions())['failed'];
        self::assertSame('Set(CONFLINK_DIAL_VIA=${FILTER(a-z,${CONFLINK_DIAL_VIA})})', $failed[0]);
        self::assertSame('GotoIf($["${CONFLINK_DIAL_VIA}" = "routes"]?done)', $failed[1], 'routes: Core records it');
        $ask  = self::pos($failed, 'UserEvent(ConflinkFailed,CallId: ${CONFLINK_CALL_ID})');
        $wait = self::pos($failed, 'TryExec(WaitForCondition(~,~["~{CONFLINK_CAUSE}" != ""],2,0.02))');
        $use  = self::pos($failed, 'Set(CONFLINK_CAUSE=0${FILTER(0-9,${CONFLINK_CAUSE:0:3})})');
        $row  = self::pos($failed, 'Gosub(historyrow,1)');
        self::assertLessThan($ask, self::pos($failed, 'Set(CONFLINK_CALL_ID=${FILTER(-A-Za-z0-9_,${CONFLINK_CALL_ID})})'));
        self::assertLessThan($wait, $ask);
        self::assertLessThan($use, $wait);
        self::assertLessThan($row, $use);
        self::assertSame(CallHistoryDialplan::FAILED_EVENT, 'ConflinkFailed');
        $config = (string)file_get_contents(dirname(__DIR__, 3) . '/python-worker/conflink/rules.py');
        self::assertStringContainsString('FAILED_EVENT = "ConflinkFailed"', $config, 'the worker answers the same event');
        self::assertStringContainsString('CAUSE_VARIABLE = "CONFLINK_CAUSE"', $config);
    }

    public function testOnlyFilteredValuesReachTheRow(): void
    {
        $row = self::extensions(CallHistoryDialplan::extensions())['historyrow'];
        $send = self::pos($row, 'Set(CONFLINK_H_JSON={');
        preg_match_all('/\$\{([A-Z_]+)\}/', $row[$send], $m);
        $computed = ['CONFLINK_H_START', 'CONFLINK_H_END', 'CONFLINK_H_ANSWER', 'CONFLINK_H_DURATION',
                     'CONFLINK_H_BILLSEC', 'CONFLINK_H_DISPOSITION'];
        foreach (array_unique($m[1]) as $var) {
            if (in_array($var, $computed, true)) {
                $set = self::pos($row, "Set({$var}=");
                self::assertLessThan($send, $set);
                continue;
            }
            $filter = self::pos($row, "Set({$var}=\${FILTER(");
            self::assertLessThan($send, $filter, "{$var} filtered before the row");
            $allowed = strstr(substr($row[$filter], strlen("Set({$var}=\${FILTER(")), ',', true);
            self::assertMatchesRegularExpression('/^[A-Za-z0-9_.~+@:\/*#-]+$/', (string)$allowed,
                "{$var}: no quote, comma, backslash or brace passes its filter");
        }
        // computed values come from filtered ones and Asterisk's own functions only
        foreach ($computed as $var) {
            foreach ($row as $i => $app) {
                if (str_starts_with($app, "Set({$var}=") || str_contains($app, "?Set({$var}=")) {
                    self::assertMatchesRegularExpression('/^(?:ExecIf\(.*\?)?Set\(' . $var . '=(|0|\$\{(STRFTIME|IF|CONFLINK_DIALSTATUS)[^"]*|\$\[.*)\)+$/', $app);
                }
            }
        }
    }

    public function testTheRowIsJsonForCoresInsertCdrWithTheDesignedFields(): void
    {
        $row = self::extensions(CallHistoryDialplan::extensions())['historyrow'];
        $send = $row[self::pos($row, 'Set(CONFLINK_H_JSON={')];
        $json = substr($send, strlen('Set(CONFLINK_H_JSON='), -1);
        $sample = preg_replace_callback('/\$\{([A-Z_]+)\}/', static fn ($m) => 'v-' . strtolower($m[1]), $json);
        $doc = json_decode((string)$sample, true, 8, JSON_THROW_ON_ERROR);
        self::assertSame('insert_cdr', $doc['action']);
        self::assertCount(1, $doc['rows']);
        $r = $doc['rows'][0];
        self::assertSame('v-conflink_call_id', $r['UNIQUEID']);
        self::assertSame('v-conflink_call_id', $r['linkedid'], 'groups with the participant row of the same channel');
        self::assertSame('v-conflink_room', $r['src_num']);
        self::assertSame('v-conflink_number', $r['dst_num']);
        self::assertSame('v-conflink_provider', $r['to_account']);
        self::assertSame('1', $r['work_completed']);
        // only columns Core's CDR model has (ActionInsertCdr skips others silently)
        $columns = ['UNIQUEID', 'linkedid', 'start', 'answer', 'endtime', 'src_chan', 'src_num', 'dst_chan', 'dst_num',
                    'from_account', 'to_account', 'dialstatus', 'disposition', 'duration', 'billsec', 'dst_call_id',
                    'verbose_call_id', 'transfer', 'work_completed'];
        self::assertSame($columns, array_keys($r));
    }

    public function testAnsweredDispositionFollowsCoresWorkerCdr(): void
    {
        $row = self::extensions(CallHistoryDialplan::extensions())['historyrow'];
        self::assertContains('Set(CONFLINK_H_DISPOSITION=${IF($[${CONFLINK_H_BILLSEC} > 0]?ANSWERED:NOANSWER)})', $row);
        self::assertContains('ExecIf($[${CONFLINK_H_DURATION} < 0]?Set(CONFLINK_H_DURATION=0))', $row);
        self::assertSame('Return()', end($row));
    }

    public function testTheJoinPathPushesTheHandlerBeforeCoresStepsAndAgainAfterTheWipe(): void
    {
        $text = (new DialplanBuilder('ctx-1'))->build();
        $lines = explode("\n", $text);
        $push = 'ExecIf($["${CONFLINK_DIAL_VIA}" != "routes"]?Set(CHANNEL(hangup_handler_push)=ctx-1,history,1))';
        $idx = array_keys(array_filter($lines, static fn ($l) => str_ends_with($l, ',' . $push)));
        self::assertCount(2, $idx);
        $agi  = array_key_first(array_filter($lines, static fn ($l) => str_contains($l, 'AGI(meetme_dial.php)')));
        $wipe = array_key_first(array_filter($lines, static fn ($l) => str_contains($l, 'hangup_handler_wipe')));
        $answer = array_key_first(array_filter($lines, static fn ($l) => str_contains($l, 'Set(CONFLINK_ANSWER=${STRFTIME(,,%s.%3q)})')));
        self::assertLessThan($idx[0], $answer, 'the answer time is taken first');
        self::assertLessThan($agi, $idx[0]);
        self::assertSame($wipe + 1, $idx[1], 'right after the wipe that removed it');
        $filter = array_key_first(array_filter($lines, static fn ($l) => str_contains($l, 'Set(CONFLINK_DIAL_VIA=${FILTER(a-z,${CONFLINK_DIAL_VIA})})')));
        self::assertLessThan($idx[0], $filter);
    }

    public function testBuildAllPutsTheExtensionsInsideTheJoinContext(): void
    {
        $b = new DialplanBuilder('ctx-1');
        $all = $b->buildAll();
        self::assertStringStartsWith($b->build() . CallHistoryDialplan::extensions() . "[ctx-1-announce]\n", $all);
    }
}
