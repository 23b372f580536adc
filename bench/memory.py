#!/usr/bin/env python3
"""bench/memory.py — the two SMTP ends of bench/memory.sh, without Postfix.

  memory.py sink PORT           a downstream that accepts and discards everything; prints
                                "sink ready" once listening and one line per message
  memory.py send PORT SESSIONS SIZE [--no-size]
                                SESSIONS concurrent sessions, each sending one SIZE-byte
                                message (a base64 attachment of random bytes, as real big
                                mail is) with MAIL FROM ... SIZE=N as Postfix sends it;
                                prints a count of the final replies by code
"""
import asyncio
import base64
import collections
import os
import sys


async def sink_session(reader, writer):
    writer.write(b"220 benchsink ESMTP\r\n")
    in_data = False
    while True:
        line = await reader.readline()
        if not line:
            break
        if in_data:
            if line == b".\r\n":
                in_data = False
                writer.write(b"250 2.0.0 Ok: queued\r\n")
                print("message", flush=True)
            continue
        verb = line[:4].upper()
        if verb == b"EHLO":
            writer.write(b"250-benchsink\r\n250-PIPELINING\r\n250-SIZE 104857600\r\n250 8BITMIME\r\n")
        elif verb == b"DATA":
            in_data = True
            writer.write(b"354 go ahead\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 bye\r\n")
            await writer.drain()
            break
        else:
            writer.write(b"250 2.0.0 Ok\r\n")
        await writer.drain()
    writer.close()


async def sink(port):
    server = await asyncio.start_server(sink_session, "127.0.0.1", port, limit=1 << 20)
    print("sink ready", flush=True)
    async with server:
        await server.serve_forever()


def message(size):
    raw = os.urandom(size * 3 // 4)
    body = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    head = (
        b"From: a@example.org\r\nTo: b@example.org\r\nSubject: memory bench\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--x\r\nContent-Type: application/octet-stream; name=\"big.bin\"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return head + body + b"--x--\r\n"


async def reply(reader):
    while True:
        line = await reader.readline()
        if not line:
            return b"EOF"
        if line[3:4] != b"-":
            return line


async def send_one(port, data, declare_size):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    try:
        await reply(reader)
        size = f" SIZE={len(data)}" if declare_size else ""
        for command in (b"EHLO bench", f"MAIL FROM:<a@example.org>{size}".encode(), b"RCPT TO:<b@example.org>", b"DATA"):
            writer.write(command + b"\r\n")
            await writer.drain()
            answer = await reply(reader)
            if not answer[:1] in (b"2", b"3"):
                return answer[:3].decode(errors="replace")
        writer.write(data + b".\r\n")
        await writer.drain()
        answer = await reply(reader)
        writer.write(b"QUIT\r\n")
        await writer.drain()
        return answer[:3].decode(errors="replace")
    finally:
        writer.close()


async def send(port, sessions, size, declare_size):
    data = message(size)
    codes = await asyncio.gather(*(send_one(port, data, declare_size) for _ in range(sessions)), return_exceptions=True)
    count = collections.Counter(c if isinstance(c, str) else type(c).__name__ for c in codes)
    print("replies " + " ".join(f"{k}:{v}" for k, v in sorted(count.items())), flush=True)


def main():
    if sys.argv[1:2] == ["sink"]:
        asyncio.run(sink(int(sys.argv[2])))
    elif sys.argv[1:2] == ["send"]:
        asyncio.run(send(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), "--no-size" not in sys.argv))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
