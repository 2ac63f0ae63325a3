<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

use Closure;

/**
 * One render and push of the worker config per change batch of core's WorkerModelsEvents.
 *
 * Core calls modelsEventChangeData once per changed record (a bulk import of 500 extensions
 * is 500 Sip records) and modelsEventNeedReload once per batch, after its own reload actions.
 * note() marks the config dirty for a change that can alter it; flush() renders and pushes
 * once if it is dirty.
 *
 * The mark is a file in the module's run folder, not a property: core keeps one hook object
 * per process only until it recreates the module list (on any module enable/disable), and
 * WorkerModelsEvents may be restarted between a change and its batch end (core restores its
 * planned actions from Redis, then calls modelsEventNeedReload from the new process). A file
 * survives both, is shared by every process, and unlink() claims it atomically, so two
 * processes never push the same mark twice. The run folder is on tmpfs: a reboot drops the
 * mark, and the config is rendered at PBX start anyway (onAfterPbxStarted, the wrapper).
 *
 * Order within core: for each message it plans its own actions, may end the batch (and call
 * modelsEventNeedReload) and only then calls modelsEventChangeData for that message. Some
 * actions end the batch at once (ReloadAdviceAction, planned for every Sip save;
 * ReloadModuleStateAction), so a provider saved on its own is marked after the only
 * modelsEventNeedReload that could have pushed it, and no later batch need come. The wrapper
 * therefore flushes a mark that has waited longer than STALE_SECONDS (flushStale()); a mark left
 * by a record the batch-ending push had already read costs at most one push too many.
 */
final class ConfigBatch
{
    private ModulePaths $paths;
    private Closure $uniqidOf;
    private Closure $linkedUniqids;

    /**
     * @param ?Closure $uniqidOf      fn(string $kind, string $recordId): ?string (default: ConfigService)
     * @param ?Closure $linkedUniqids fn(string $kind): ?list<string>, null = every change of that kind may matter (default: ConfigService)
     */
    public function __construct(ModulePaths $paths, ?Closure $uniqidOf = null, ?Closure $linkedUniqids = null)
    {
        $this->paths         = $paths;
        $this->uniqidOf      = $uniqidOf ?? ConfigService::recordUniqid(...);
        $this->linkedUniqids = $linkedUniqids ?? ConfigService::linkedUniqids(...);
    }

    /** A mark older than this has missed its batch end (see the class comment). */
    public const STALE_SECONDS = 3.0;

    public function markFile(): string
    {
        return $this->paths->runDir . '/config.dirty';
    }

    public function isDirty(): bool
    {
        clearstatcache(true, $this->markFile());

        return is_file($this->markFile());
    }

    /**
     * Marks the config dirty if the change can alter it. True when it did (or already was).
     */
    public function note(ModelChange $change): bool
    {
        if (!$this->mayAlterConfig($change)) {
            return false;
        }
        $this->mark();

        return true;
    }

    public function mark(): void
    {
        if ($this->isDirty()) {
            return;
        }
        $dir = dirname($this->markFile());
        if (!is_dir($dir) && !@mkdir($dir, 0755, true) && !is_dir($dir)) {
            return;
        }
        @touch($this->markFile());
    }

    /**
     * Renders and pushes once if dirty. Null when it was clean (or another process took the
     * mark); otherwise what the push answered (null inside when no worker runs to push to).
     * A push that got no answer, or a failed write, marks the config dirty again so the next
     * batch retries; a config the worker refused (exit 1) is not retried unchanged.
     *
     * @return ?array{result: ?CtlResult}
     */
    public function flush(): ?array
    {
        if (!$this->isDirty()) {
            return null;
        }
        if (!@unlink($this->markFile())) {
            // Another process claimed the mark. Clear the warning, or core's shutdown handler of
            // the worker that ran this reports it as an error (error_get_last() sees @-ed ones).
            error_clear_last();
            return null;
        }
        $result = (new ConfigService($this->paths))->writeAndPush();
        if ($result !== null && !$result->ok && $result->exitCode !== 1) {
            $this->mark();
        }

        return ['result' => $result];
    }

    /**
     * flush() for a mark that no batch end took within $olderThan seconds. Called by the wrapper
     * every few seconds; null when there is nothing stale.
     *
     * @return ?array{result: ?CtlResult}
     */
    public function flushStale(float $olderThan = self::STALE_SECONDS, ?float $now = null): ?array
    {
        clearstatcache(true, $this->markFile());
        $mtime = @filemtime($this->markFile());
        if ($mtime === false) {
            error_clear_last();
            return null;
        }
        if (($now ?? microtime(true)) - $mtime < $olderThan) {
            return null;
        }

        return $this->flush();
    }

    private function mayAlterConfig(ModelChange $change): bool
    {
        if (!$change->fieldsMayMatter()) {
            return false;
        }
        // Already dirty: the record lookups below would not change the outcome.
        if (!$change->isCoreRecord() || $this->isDirty()) {
            return true;
        }
        $linked = ($this->linkedUniqids)($change->kind);
        if ($linked === null) {
            return true;
        }
        $uniqid = ($this->uniqidOf)($change->kind, $change->recordId);
        // Gone, or not committed yet: cannot tell, so it may matter.
        if ($uniqid === null) {
            return true;
        }

        return in_array($uniqid, $linked, true);
    }
}
