"""`manage.py simulate_device`: a reference phone for /ws/engine/ (seed 000, SPEC §6).

It connects with its endpoint token (`Authorization: Bearer`), reports its state
(CONNECTED, send and read permission ON unless told otherwise), and answers:
- SendMessage → SendMessageSucceeded, or SendMessageFailed for `--fail-rate` of them,
  after `--latency-ms`;
- UploadConversations → ConversationsReport with `--unread N` unread conversations whose
  ids are stable (derived from the token), so a second report deduplicates;
- UpdateMessagesStatus → UpdateMessagesStatusSucceeded.

Every frame in and out is one line on stderr. It reconnects with exponential backoff
(0.5 s doubling to 30 s) when the server goes away, gives up at once if the token is
refused, and stops cleanly on SIGINT/SIGTERM (or after `--max-frames` server frames).
Frames are built and checked with the server's own codec (messaging.engine.codec).
"""

import asyncio
import hashlib
import random
import signal
import sys
import time
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from messaging.engine import codec

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
TOKEN_REFUSED = 2  # exit status


class Command(BaseCommand):
    help = "Run a simulated phone against /ws/engine/ until stopped."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="ws://127.0.0.1:8000/ws/engine/", help="The server's /ws/engine/ URL")
        parser.add_argument("--token", required=True, help="The endpoint token (createchannel / createendpoint)")
        parser.add_argument("--fail-rate", type=float, default=0.0, help="Share of sends answered with a failure (0-1)")
        parser.add_argument("--fail-code", default="GENERIC_FAILURE", choices=codec.ERROR_CODES)
        parser.add_argument("--latency-ms", type=int, default=0, help="Delay before each answer")
        parser.add_argument("--unread", type=int, default=0, help="Unread conversations to report when asked")
        parser.add_argument("--max-frames", type=int, default=0, help="Stop after this many server frames (0: never)")
        parser.add_argument("--send-permission", default="ON", choices=codec.PERMISSION_STATES)
        parser.add_argument("--read-permission", default="ON", choices=codec.PERMISSION_STATES)
        parser.add_argument("--seed", type=int, default=None, help="Random seed for --fail-rate")

    def handle(self, *args, **options) -> None:
        if not 0 <= options["fail_rate"] <= 1:
            raise CommandError("--fail-rate must be between 0 and 1")
        for flag in ("latency_ms", "unread", "max_frames"):
            if options[flag] < 0:
                raise CommandError(f"--{flag.replace('_', '-')} must not be negative")
        if not options["url"].startswith(("ws://", "wss://")):
            raise CommandError("--url must be a ws:// or wss:// URL")
        device = Device(options)
        status = asyncio.run(device.run())
        if status:
            sys.exit(status)


class Device:
    def __init__(self, options: dict):
        self.url = options["url"]
        self.token = options["token"]
        self.fail_rate = options["fail_rate"]
        self.fail_code = options["fail_code"]
        self.latency = options["latency_ms"] / 1000
        self.unread = options["unread"]
        self.max_frames = options["max_frames"]
        self.permissions = (options["send_permission"], options["read_permission"])
        self.random = random.Random(options["seed"])
        self.prefix = hashlib.sha256(self.token.encode()).hexdigest()[:8]
        self.stop = asyncio.Event()
        self.frames_in = 0
        self.counts = {"sent": 0, "failed": 0, "reports": 0, "read_updates": 0}

    # --- logging: one line per frame on stderr ---

    def log(self, text: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
        print(f"{stamp} device {self.prefix} {text}", file=sys.stderr, flush=True)

    def log_frame(self, arrow: str, frame: codec.Frame) -> None:
        payload = {k: (v if len(v) <= 60 else v[:57] + "...") for k, v in frame.payload.items() if isinstance(v, str)}
        self.log(f"{arrow} {frame.action} {payload}")

    # --- lifecycle ---

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        backoff = BACKOFF_FIRST
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                await self.session()
            except InvalidStatus as exc:
                if exc.response.status_code in (401, 403):
                    self.log(f"token refused by {self.url} (HTTP {exc.response.status_code}); giving up")
                    return TOKEN_REFUSED
                self.log(f"handshake failed: {exc}")
            except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError) as exc:
                self.log(f"connection lost: {exc!r}")
            if self.stop.is_set():
                break
            if time.monotonic() - started > BACKOFF_MAX:
                backoff = BACKOFF_FIRST  # it had been up for a while: start the backoff again
            delay = backoff * (0.8 + 0.4 * self.random.random())
            self.log(f"reconnecting in {delay:.1f}s")
            try:
                await asyncio.wait_for(self.stop.wait(), timeout=delay)
            except TimeoutError:
                pass
            backoff = min(backoff * 2, BACKOFF_MAX)
        self.log(f"stopped: {self.counts}")
        return 0

    async def session(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        # proxy=None: a device talks to the server directly, never through an env proxy.
        async with connect(self.url, additional_headers=headers, proxy=None, max_size=None) as ws:
            self.log(f"connected to {self.url}")
            await self.send(ws, codec.endpoint_state("CONNECTED", *self.permissions))
            reader = asyncio.create_task(self.read(ws))
            stopper = asyncio.create_task(self.stop.wait())
            done, _ = await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if reader in done:
                reader.result()  # re-raises ConnectionClosed → reconnect
            else:
                reader.cancel()
                await ws.close()

    async def read(self, ws) -> None:
        pending: set[asyncio.Task] = set()
        async for raw in ws:
            try:
                frame = codec.decode(raw, expect=codec.TO_DEVICE)
            except codec.FrameError as exc:
                self.log(f"<- ignored frame: {exc.reason}")
                continue
            self.log_frame("<-", frame)
            task = asyncio.create_task(self.answer(ws, frame))
            pending.add(task)
            task.add_done_callback(pending.discard)
            self.frames_in += 1
            if self.max_frames and self.frames_in >= self.max_frames:
                await asyncio.gather(*pending, return_exceptions=True)
                self.stop.set()
                return

    async def send(self, ws, text: str) -> None:
        self.log_frame("->", codec.decode(text))
        await ws.send(text)

    # --- answers ---

    async def answer(self, ws, frame: codec.Frame) -> None:
        if self.latency:
            await asyncio.sleep(self.latency)
        token = frame.payload["token"]
        try:
            if frame.action == codec.SEND_MESSAGE:
                codec.parse_recipients(frame.payload["recipients"])
                if self.random.random() < self.fail_rate:
                    self.counts["failed"] += 1
                    await self.send(ws, codec.send_message_failed(token, self.fail_code, "simulated failure"))
                else:
                    self.counts["sent"] += 1
                    await self.send(ws, codec.send_message_succeeded(token))
            elif frame.action == codec.UPLOAD_CONVERSATIONS:
                self.counts["reports"] += 1
                await self.send(ws, codec.conversations_report(self.conversations(), token=token))
            elif frame.action == codec.UPDATE_MESSAGES_STATUS:
                codec.parse_status_map(frame.payload["status"])
                self.counts["read_updates"] += 1
                await self.send(ws, codec.update_messages_status_succeeded(token))
        except codec.FrameError as exc:
            self.log(f"bad {frame.action} payload: {exc.reason}")
            if frame.action == codec.SEND_MESSAGE:
                await self.send(ws, codec.send_message_failed(token, "GENERIC_FAILURE", exc.reason))
        except ConnectionClosed:
            pass  # the reader notices and reconnects

    def conversations(self) -> list[dict]:
        """`--unread` conversations with one unread message each; same ids every time."""
        base = datetime(2024, 1, 1, tzinfo=UTC)
        out = []
        for i in range(self.unread):
            party = {"address": f"+1415555{i % 10000:04d}", "addressType": codec.PHONE_ADDRESS}
            out.append(
                {
                    "id": f"{self.prefix}-c{i}",
                    "otherParticipants": [party],
                    "messages": [
                        {
                            "id": f"{self.prefix}-c{i}-m1",
                            "payload": {"@type": "text", "text": f"Unread message {i + 1} from the simulator"},
                            "status": "unread",
                            "createdTime": (base + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
                            "sender": party,
                        }
                    ],
                    "unreadMessageCount": 1,
                }
            )
        return out
