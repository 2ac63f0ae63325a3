<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

/**
 * Why the last worker start failed, in the worker's (or its launcher's) own words: the
 * self-check report naming a missing module, "no python3 found", a bad config file. The
 * supervisor writes it when a child ends before it counted as started, and removes it once a
 * child stays up; WorkerClient shows it instead of a bare "no answer". A small file in the
 * run folder, so the REST worker can read it without asking anybody.
 */
final class StartProblem
{
    /** Kept short enough for a status line; the full text is in the stderr log. */
    public const MAX_CHARS = 1000;

    public function __construct(private readonly string $file)
    {
    }

    /**
     * One line: the output's lines trimmed and joined; a clipped tail is marked with "…".
     */
    public static function summarise(string $output): string
    {
        $lines = [];
        foreach (preg_split('/\r?\n/', $output) ?: [] as $line) {
            $line = trim((string)preg_replace('/[\x00-\x1F\x7F]+/', ' ', $line));
            if ($line !== '') {
                $lines[] = $line;
            }
        }
        $text = implode(' ', $lines);
        if (!mb_check_encoding($text, 'UTF-8')) {
            $text = mb_convert_encoding($text, 'UTF-8', 'UTF-8');
        }

        return mb_strlen($text) > self::MAX_CHARS ? mb_substr($text, 0, self::MAX_CHARS - 1) . '…' : $text;
    }

    public function write(string $summary): void
    {
        try {
            AtomicFile::write($this->file, $summary . "\n", 0644);
        } catch (\Throwable) {
            // The log line the supervisor writes says the same; the file is a convenience.
        }
    }

    public function read(): ?string
    {
        clearstatcache(true, $this->file);
        if (!is_file($this->file)) {
            return null;
        }
        $text = @file_get_contents($this->file, false, null, 0, 4 * self::MAX_CHARS);
        if (!is_string($text) || trim($text) === '') {
            return null;
        }

        return self::summarise($text);
    }

    public function clear(): void
    {
        if (is_file($this->file)) {
            @unlink($this->file);
        }
    }
}
