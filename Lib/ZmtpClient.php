<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

/**
 * One ZeroMQ REQ exchange over a plain stream socket: ZMTP 3.1 with the NULL mechanism
 * (RFC 37), which is all the worker's ROUTER socket speaks. PHP on MikoPBX has no zmq
 * extension, and starting conflink-ctl (a Python interpreter) for every status poll costs a
 * quarter of a CPU second inside one of core's three REST API workers.
 *
 * Every step honours one deadline: connect, greeting, handshake, request, reply. A worker
 * that is not running fails at connect (refused / no socket file) within milliseconds.
 *
 * Throws ZmtpError; its code says whether the peer never answered (EXIT_NO_ANSWER) or the
 * request could not be made at all (EXIT_LOCAL), with the same meaning as conflink-ctl's.
 */
final class ZmtpClient
{
    /** Replies above this are refused (a status of many links is a few hundred kB at most). */
    public const MAX_REPLY_BYTES = 16 * 1048576;

    private const FLAG_MORE = 0x01;
    private const FLAG_LONG = 0x02;
    private const FLAG_COMMAND = 0x04;

    /** @var resource|null */
    private $socket = null;
    private float $deadline = 0.0;

    public function __construct(private readonly string $endpoint, private readonly float $timeout = 3.0)
    {
    }

    /**
     * Sends one message frame and returns the one-frame reply body.
     *
     * @throws ZmtpError
     */
    public function request(string $body): string
    {
        $this->deadline = microtime(true) + $this->timeout;
        try {
            $this->connect();
            // REQ envelope: an empty delimiter frame, then the body. It goes out with our READY
            // in one write, after the greetings (libzmq wants those exchanged first): one round
            // trip less than waiting for the peer's READY, and no small write held back by Nagle
            // waiting on a delayed ACK. The peer's READY is checked before its reply is read.
            $this->handshake($this->frame('', self::FLAG_MORE) . $this->frame($body, 0));
            $frames = $this->readMessage();
        } finally {
            if ($this->socket !== null) {
                fclose($this->socket);
                $this->socket = null;
            }
        }
        // A REP/ROUTER peer answers [delimiter, body].
        if (count($frames) !== 2 || $frames[0] !== '') {
            throw new ZmtpError("unexpected reply from {$this->endpoint}: " . count($frames) . ' frame(s)', ZmtpError::EXIT_NO_ANSWER);
        }

        return $frames[1];
    }

    private function connect(): void
    {
        if (preg_match('~^tcp://(127\.0\.0\.1|localhost|\[::1\]):([0-9]{1,5})$~D', $this->endpoint, $m) === 1) {
            $address = "tcp://{$m[1]}:{$m[2]}";
        } elseif (preg_match('~^ipc://(/[^\x00]+)$~D', $this->endpoint, $m) === 1) {
            $address = "unix://{$m[1]}";
            if (!file_exists($m[1])) {
                throw new ZmtpError("no conflink-worker listening at {$this->endpoint} ({$m[1]} does not exist)", ZmtpError::EXIT_NO_ANSWER);
            }
        } else {
            throw new ZmtpError("control endpoint {$this->endpoint} is not tcp://<loopback>:<port> or ipc://<absolute path>", ZmtpError::EXIT_LOCAL);
        }
        $errno  = 0;
        $errstr = '';
        $context = stream_context_create(['socket' => ['tcp_nodelay' => true]]);
        $socket  = @stream_socket_client($address, $errno, $errstr, max(0.001, $this->left()), STREAM_CLIENT_CONNECT, $context);
        if ($socket === false) {
            $why = $errstr !== '' ? strtolower($errstr) : "error {$errno}";
            throw new ZmtpError("no conflink-worker listening at {$this->endpoint} ({$why})", ZmtpError::EXIT_NO_ANSWER);
        }
        stream_set_blocking($socket, false);
        $this->socket = $socket;
    }

    /** Greetings, then our READY with $request behind it, then the peer's READY. */
    private function handshake(string $request): void
    {
        // Greeting: signature, version 3.1, mechanism NULL, as-server 0, filler.
        $this->write("\xFF" . str_repeat("\x00", 8) . "\x7F" . "\x03\x01" . str_pad('NULL', 20, "\x00") . "\x00" . str_repeat("\x00", 31));
        $greeting = $this->read(64);
        if ($greeting[0] !== "\xFF" || (ord($greeting[9]) & 0x01) !== 1) {
            throw new ZmtpError("{$this->endpoint} does not speak ZeroMQ (ZMTP)", ZmtpError::EXIT_NO_ANSWER);
        }
        if (ord($greeting[10]) < 3) {
            throw new ZmtpError("{$this->endpoint} speaks ZMTP " . ord($greeting[10]) . '.x; 3.x is needed', ZmtpError::EXIT_NO_ANSWER);
        }
        $mechanism = rtrim(substr($greeting, 12, 20), "\x00");
        if ($mechanism !== 'NULL') {
            throw new ZmtpError("{$this->endpoint} wants the ZMTP security mechanism " . json_encode($mechanism) . ', not NULL', ZmtpError::EXIT_NO_ANSWER);
        }
        $this->write($this->frame("\x05READY" . self::property('Socket-Type', 'REQ') . self::property('Identity', ''), self::FLAG_COMMAND) . $request);
        [$flags, $ready] = $this->readFrame();
        if (($flags & self::FLAG_COMMAND) === 0) {
            throw new ZmtpError("{$this->endpoint} sent a message before its READY command", ZmtpError::EXIT_NO_ANSWER);
        }
        $name = self::commandName($ready);
        if ($name === 'ERROR') {
            $reason = substr($ready, 7, ord($ready[6] ?? "\x00"));
            throw new ZmtpError("{$this->endpoint} refused the connection: {$reason}", ZmtpError::EXIT_NO_ANSWER);
        }
        if ($name !== 'READY') {
            throw new ZmtpError("{$this->endpoint} sent " . json_encode($name) . ' instead of READY', ZmtpError::EXIT_NO_ANSWER);
        }
        $type = self::properties(substr($ready, 6))['socket-type'] ?? '';
        if ($type !== 'ROUTER' && $type !== 'REP') {
            throw new ZmtpError("{$this->endpoint} is a ZeroMQ " . ($type !== '' ? $type : 'socket without a type') . ' socket, not the worker\'s ROUTER', ZmtpError::EXIT_NO_ANSWER);
        }
    }

    /**
     * Frames of the next message; command frames (e.g. PING) in between are skipped.
     *
     * @return list<string>
     */
    private function readMessage(): array
    {
        $frames = [];
        $total  = 0;
        while (true) {
            [$flags, $body] = $this->readFrame();
            if (($flags & self::FLAG_COMMAND) !== 0) {
                continue;
            }
            $total += strlen($body);
            $frames[] = $body;
            if (($flags & self::FLAG_MORE) === 0) {
                return $frames;
            }
            if (count($frames) > 16 || $total > self::MAX_REPLY_BYTES) {
                throw new ZmtpError("reply from {$this->endpoint} is too large", ZmtpError::EXIT_NO_ANSWER);
            }
        }
    }

    /** @return array{0: int, 1: string} flags and body */
    private function readFrame(): array
    {
        $flags = ord($this->read(1));
        if (($flags & 0xF8) !== 0) {
            throw new ZmtpError("malformed ZMTP frame from {$this->endpoint} (flags 0x" . dechex($flags) . ')', ZmtpError::EXIT_NO_ANSWER);
        }
        if (($flags & self::FLAG_LONG) !== 0) {
            $size = unpack('J', $this->read(8))[1];
        } else {
            $size = ord($this->read(1));
        }
        if ($size < 0 || $size > self::MAX_REPLY_BYTES) {
            throw new ZmtpError("reply from {$this->endpoint} is too large ({$size} bytes)", ZmtpError::EXIT_NO_ANSWER);
        }

        return [$flags, $size === 0 ? '' : $this->read($size)];
    }

    private function frame(string $body, int $flags): string
    {
        $size = strlen($body);

        return $size > 255
            ? chr($flags | self::FLAG_LONG) . pack('J', $size) . $body
            : chr($flags) . chr($size) . $body;
    }

    private static function property(string $name, string $value): string
    {
        return chr(strlen($name)) . $name . pack('N', strlen($value)) . $value;
    }

    private static function commandName(string $body): string
    {
        $len = ord($body[0] ?? "\x00");

        return substr($body, 1, $len);
    }

    /** @return array<string, string> metadata names lower-cased (they are case-insensitive) */
    private static function properties(string $data): array
    {
        $out = [];
        $pos = 0;
        $end = strlen($data);
        while ($pos < $end) {
            $nameLen = ord($data[$pos]);
            $name    = substr($data, $pos + 1, $nameLen);
            $pos    += 1 + $nameLen;
            if ($pos + 4 > $end) {
                break;
            }
            $valueLen = unpack('N', substr($data, $pos, 4))[1];
            $out[strtolower($name)] = substr($data, $pos + 4, $valueLen);
            $pos += 4 + $valueLen;
        }

        return $out;
    }

    private function write(string $data): void
    {
        while ($data !== '') {
            $this->wait(false);
            $n = @fwrite($this->socket, $data);
            if ($n === false) {
                throw new ZmtpError("{$this->noAnswer()} (connection closed while sending)", ZmtpError::EXIT_NO_ANSWER);
            }
            $data = (string)substr($data, $n);
        }
    }

    private function read(int $length): string
    {
        $out = '';
        while (strlen($out) < $length) {
            $this->wait(true);
            $chunk = @fread($this->socket, $length - strlen($out));
            if ($chunk === false || ($chunk === '' && feof($this->socket))) {
                throw new ZmtpError("{$this->noAnswer()} (connection closed)", ZmtpError::EXIT_NO_ANSWER);
            }
            $out .= $chunk;
        }

        return $out;
    }

    private function wait(bool $forRead): void
    {
        while (true) {
            $left = $this->left();
            if ($left <= 0) {
                throw new ZmtpError($this->noAnswer(), ZmtpError::EXIT_NO_ANSWER);
            }
            $r = $forRead ? [$this->socket] : null;
            $w = $forRead ? null : [$this->socket];
            $e = null;
            $ready = @stream_select($r, $w, $e, (int)$left, (int)(fmod($left, 1.0) * 1000000));
            if ($ready === false) {
                continue; // interrupted by a signal: the deadline still holds
            }
            if ($ready > 0) {
                return;
            }
        }
    }

    private function left(): float
    {
        return $this->deadline - microtime(true);
    }

    private function noAnswer(): string
    {
        return sprintf('no answer from conflink-worker at %s within %s s (is it running?)', $this->endpoint, LinkValidator::formatFloat($this->timeout));
    }
}
