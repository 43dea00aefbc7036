"""Host-side gRPC client for the container smoke test (tests/docker/smoke.sh).

Talks to a running declutter container through its published port:

* waits for the standard grpc.health.v1 service to report SERVING,
* checks GetModelInfo (optionally against an expected version),
* cleans a plain-text and an HTML article and checks the answers.

Needs grpcio, grpcio-health-checking, protobuf and the project's generated
code (``server.api.declutter.v1``) importable. Exits 0 when every check
passed, 1 otherwise; prints one line per check.
"""

from __future__ import annotations

import argparse
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.api.declutter.v1 import declutter_pb2, declutter_pb2_grpc

LABELS = {"BODY", "NAVIGATION", "AD", "DISCLAIMER", "RELATED_LINKS"}

PARAGRAPHS = [
    "The city council voted on Tuesday evening to extend the riverside cycle path by another four kilometres, "
    "connecting the old harbour district with the new housing estates in the north.",
    "Construction is expected to begin next spring and to take about eighteen months, according to the transport "
    "department, which estimates the total cost at just under twelve million euros.",
    "Residents who spoke at the meeting were largely in favour of the plan, although several shop owners on the "
    "harbour front said they were worried about losing parking spaces during the works.",
    "The council also agreed to review the lighting along the existing path after a number of complaints from "
    "people who commute by bicycle during the winter months, when it gets dark early in the afternoon.",
    "A final decision on the route through the park will be taken in September, once the environmental "
    "assessment of the wetland area has been published and discussed with local nature groups.",
]

CLUTTER = {
    "menu": "Home | News | Sport | Business | Culture | Weather | Contact",
    "ad": "Advertisement",
    "related": "Related: Council approves new bus lanes",
    "disclaimer": "\u00a9 2024 Example Daily News. All rights reserved.",
}


def plain_text_article() -> str:
    lines = [
        CLUTTER["menu"],
        "Skip to main content",
        "",
        "Council backs longer riverside cycle path",
        "",
        PARAGRAPHS[0],
        "",
        PARAGRAPHS[1],
        "",
        CLUTTER["ad"],
        "",
        PARAGRAPHS[2],
        "",
        PARAGRAPHS[3],
        "",
        PARAGRAPHS[4],
        "",
        "Read more",
        CLUTTER["related"],
        "Related: Harbour market to reopen in May",
        "",
        CLUTTER["disclaimer"],
        "",
    ]
    return "\n".join(lines)


def html_article() -> str:
    paras = "\n".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    return (
        "<!DOCTYPE html><html><head><title>Council backs longer riverside cycle path</title></head><body>\n"
        '<nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>'
        '<li><a href="/sport">Sport</a></li><li><a href="/contact">Contact</a></li></ul></nav>\n'
        "<article><h1>Council backs longer riverside cycle path</h1>\n"
        f"{paras}\n"
        '<div class="ad">Advertisement</div>\n'
        "</article>\n"
        "<footer><p>\u00a9 2024 Example Daily News. All rights reserved.</p></footer>\n"
        "</body></html>\n"
    )


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"  ok   {what}")
        else:
            self.failed += 1
            print(f"  FAIL {what}" + (f": {detail}" if detail else ""))
        return ok


def wait_serving(channel: grpc.Channel, timeout: float) -> str:
    """Polls the health service until SERVING or timeout; returns the last status name."""
    stub = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            resp = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            last = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
            if resp.status == health_pb2.HealthCheckResponse.SERVING:
                return last
        except grpc.RpcError as exc:
            last = f"{exc.code().name}: {exc.details()}"
        time.sleep(0.5)
    return last


def label_name(label) -> str:
    """The label's name, whether the field is the Label enum or a string."""
    if isinstance(label, str):
        return label
    try:
        return declutter_pb2.Label.Name(label)
    except (AttributeError, ValueError):
        return f"<{label}>"


def norm(text: str) -> str:
    return " ".join(text.split())


def check_plain_text(c: Checks, stub, version: str, rpc_timeout: float) -> None:
    content = plain_text_article()
    input_lines = content.split("\n")
    non_blank = [norm(t) for t in input_lines if t.strip()]
    req = declutter_pb2.CleanRequest(
        document=declutter_pb2.Document(format=declutter_pb2.Document.PLAIN_TEXT, content=content, id="smoke-plain"),
        include_lines=True,
    )
    resp = stub.Clean(req, timeout=rpc_timeout)

    c.check(resp.id == "smoke-plain", "plain text: response id echoes the document id", repr(resp.id))
    c.check(resp.model_version == version, "plain text: model_version equals GetModelInfo().version",
            f"{resp.model_version!r} != {version!r}")

    labelled = [norm(l.text) for l in resp.lines if l.text.strip()]
    c.check(sorted(labelled) == sorted(non_blank), "plain text: lines cover every non-blank input line exactly once",
            f"got {len(labelled)} labelled lines for {len(non_blank)} non-blank input lines")
    bad_labels = sorted({label_name(l.label) for l in resp.lines} - LABELS)
    c.check(not bad_labels, "plain text: every line has one of the labels " + "/".join(sorted(LABELS)),
            str(bad_labels))
    bad_conf = [l.confidence for l in resp.lines if not 0.0 <= l.confidence <= 1.0]
    c.check(not bad_conf, "plain text: confidences within [0, 1]", str(bad_conf[:5]))
    # Line numbers must point at the line they carry (1-based or 0-based, but consistently).
    numbers_ok = False
    for base in (1, 0):
        if all(0 <= l.number - base < len(input_lines) and norm(input_lines[l.number - base]) == norm(l.text)
               for l in resp.lines if l.text.strip()):
            numbers_ok = True
            break
    c.check(numbers_ok, "plain text: line numbers point at the input lines they carry")

    body_lines = [norm(t) for t in resp.body.split("\n") if t.strip()]
    c.check(bool(body_lines), "plain text: body is not empty")
    strays = [t for t in body_lines if t not in set(non_blank)]
    c.check(not strays, "plain text: every body line is an input line", str(strays[:3]))
    kept = sum(1 for p in PARAGRAPHS if norm(p) in body_lines)
    c.check(kept >= len(PARAGRAPHS) - 1, "plain text: body keeps the article paragraphs",
            f"{kept} of {len(PARAGRAPHS)} kept; body={resp.body[:300]!r}")
    c.check(CLUTTER["ad"] not in body_lines, "plain text: body drops the 'Advertisement' line")
    c.check(norm(CLUTTER["menu"]) not in body_lines, "plain text: body drops the menu line")
    print("       labels: " + ", ".join(f"{l.number}:{label_name(l.label)}" for l in resp.lines))


def check_html(c: Checks, stub, version: str, rpc_timeout: float) -> None:
    req = declutter_pb2.CleanRequest(
        document=declutter_pb2.Document(format=declutter_pb2.Document.HTML, content=html_article(), id="smoke-html"),
        include_lines=False,
    )
    resp = stub.Clean(req, timeout=rpc_timeout)
    c.check(resp.id == "smoke-html", "html: response id echoes the document id", repr(resp.id))
    c.check(resp.model_version == version, "html: model_version equals GetModelInfo().version")
    body = norm(resp.body)
    kept = sum(1 for p in PARAGRAPHS if norm(p) in body)
    c.check(kept >= len(PARAGRAPHS) - 1, "html: body keeps the article paragraphs (lxml works in the image)",
            f"{kept} of {len(PARAGRAPHS)} kept; body={resp.body[:300]!r}")
    c.check("<p>" not in resp.body and "<nav>" not in resp.body, "html: body is text, not markup")


def summary(c: Checks) -> int:
    # Deliberately not in the "N passed, N failed" form: smoke.sh prints the closing line.
    if c.failed:
        print(f"smoke client: {c.failed} of {c.passed + c.failed} checks FAILED")
        return 1
    print(f"smoke client: all {c.passed} checks ok")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--address", required=True, help="HOST:PORT of the published container port")
    ap.add_argument("--expect-version", help="GetModelInfo().version must equal this")
    ap.add_argument("--forbid-version", help="GetModelInfo().version must differ from this")
    ap.add_argument("--wait", type=float, default=60.0, help="seconds to wait for SERVING")
    ap.add_argument("--rpc-timeout", type=float, default=30.0)
    args = ap.parse_args(argv)

    c = Checks()
    print(f"smoke client -> {args.address}")
    with grpc.insecure_channel(args.address) as channel:
        status = wait_serving(channel, args.wait)
        if not c.check(status == "SERVING", "health: grpc.health.v1 reports SERVING through the published port", status):
            return summary(c)
        stub = declutter_pb2_grpc.DeclutterStub(channel)
        try:
            info = stub.GetModelInfo(declutter_pb2.GetModelInfoRequest(), timeout=args.rpc_timeout)
            print(f"       model version: {info.version!r}")
            c.check(bool(info.version), "model info: version is not empty")
            if args.expect_version is not None:
                c.check(info.version == args.expect_version, f"model info: version is {args.expect_version!r}",
                        repr(info.version))
            if args.forbid_version is not None:
                c.check(info.version != args.forbid_version, f"model info: version is not {args.forbid_version!r}",
                        repr(info.version))
            check_plain_text(c, stub, info.version, args.rpc_timeout)
            check_html(c, stub, info.version, args.rpc_timeout)
        except grpc.RpcError as exc:
            c.check(False, "RPC failed", f"{exc.code().name}: {exc.details()}")
    return summary(c)


if __name__ == "__main__":
    sys.exit(main())
