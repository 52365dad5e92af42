"""A TLS-terminating TCP proxy for tests, as stunnel or a load balancer would sit in front of a
broker: accepts TLS on 127.0.0.1:--port (optionally requiring a client certificate signed by
--client-ca) and pipes the plaintext bytes to 127.0.0.1:--target. Prints {"port": P} when
listening, then one JSON line per connection: {"accepted": true, "client_cn": ...} or
{"refused": "<handshake error>"}.
"""
import argparse
import asyncio
import json
import ssl

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--target", type=int, required=True)
ap.add_argument("--cert", required=True)
ap.add_argument("--key", required=True)
ap.add_argument("--client-ca")
args = ap.parse_args()

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(args.cert, args.key)
if args.client_ca:
    ctx.load_verify_locations(args.client_ca)
    ctx.verify_mode = ssl.CERT_REQUIRED


def emit(obj):
    print(json.dumps(obj), flush=True)


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer):
    try:
        await forward(client_reader, client_writer)
    except (ConnectionError, ssl.SSLError, OSError):
        client_writer.close()


async def forward(client_reader, client_writer):
    cn = ""
    for rdn in (client_writer.get_extra_info("peercert") or {}).get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                cn = v
    emit({"accepted": True, "client_cn": cn})
    try:
        broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", args.target)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, broker_writer), pipe(broker_reader, client_writer))


async def main():
    loop = asyncio.get_running_loop()

    def on_error(loop, context):
        exc = context.get("exception")
        if isinstance(exc, (ssl.SSLError, ConnectionError, OSError)):
            emit({"refused": str(exc)})
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(on_error)
    server = await asyncio.start_server(handle, "127.0.0.1", args.port, ssl=ctx,
                                        ssl_handshake_timeout=10)
    emit({"port": args.port})
    async with server:
        await server.serve_forever()


asyncio.run(main())
