#!/usr/bin/env python3
"""aim_odds.py STATE [PROBES]: the odds that a recipe leaking the future
passes the causality audit's probes, on real per-position losses.

STATE is a validator state folder whose kings have changed (the demo's or
the network test's, after a run). Its recorded hidden losses of each pair of
successive kings give the per-position differences a real candidate shows
against a real king. For each pair the candidate's differences are shifted
so that its honest gain is s margins (0, 0.5, 0.9), and a leak adds the rest
of one margin: g nats on each of the G/g positions it leaks. Then, for the
audit of docs/judging-checks.md section 4b:

  drawn probes (4, before the scoring): each catches the leak when its cut
      lands on a leaked position: 1 - f per probe, f the leaked fraction;
  aimed probes (PROBES, 64 by default, after it): each draws a position with
      weight max(0, king - candidate)^2, capped at 64 nats, and catches the
      leak when it lands on a leaked one: q = G g / (G g + H), H the honest
      positions' weight.

It prints, per (s, g), the range over the pairs of f, q and the chance of
passing every probe, with the drawn probes alone beside it. The draws are
treated as independent (the judge draws distinct windows).

A model, not a bound: the leak sits where the candidate ties the king (in
the judge a leaked position weighs max(0, d + g)^2, d the honest
difference there), and a probe catches it only by landing on a leaked
position (in the judge, any cut where the logits read the future does).
A leak placed where the candidate trails the king, lowering its loss no
further than the king's, weighs nothing and is not modelled here
(docs/judging-checks.md, "Aimed probes"). Reads the state, changes
nothing. Uses the python3 standard library only.
"""
import json
import os
import sqlite3
import struct
import sys

GAIN_CAP = 64.0   # CAUSALITY_GAIN_CAP
DRAWN = 4         # CAUSALITY_PROBES


def losses(state, digest):
    with open(os.path.join(state, "store", digest), "rb") as f:
        blob = f.read()
    cut = blob.index(b"\n")
    head = json.loads(blob[:cut])
    n = head["targets"]
    return struct.unpack("<%dd" % n, blob[cut + 1:cut + 1 + 8 * n])


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: aim_odds.py STATE [PROBES]")
    state = sys.argv[1]
    probes = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(state, "state.db"), uri=True)
    margin = db.execute("SELECT margin FROM noise ORDER BY id LIMIT 1").fetchone()
    if not margin:
        sys.exit("no noise floor recorded in %s" % state)
    margin = margin[0]
    bpb = dict(db.execute("SELECT tag, hidden_bpb FROM kings"))
    kings = []
    for key, digest in db.execute("SELECT key, value FROM meta WHERE key LIKE 'hidden_losses king %' ORDER BY rowid"):
        kings.append((key.split(" ")[2], digest))
    if len(kings) < 2:
        sys.exit("need two kings with recorded hidden losses; %s has %d" % (state, len(kings)))
    table = {}
    n = 0
    for (tag, kd), (_, cd) in zip(kings, kings[1:]):
        ref, cand = losses(state, kd), losses(state, cd)
        if len(ref) != len(cand):
            continue
        n = len(ref)
        margin_nats = margin / bpb[tag] * sum(ref)
        diff = [r - c for r, c in zip(ref, cand)]
        mean = sum(diff) / n
        for s in (0.0, 0.5, 0.9):
            shift = s * margin_nats / n - mean
            honest = sum(min(max(d + shift, 0.0), GAIN_CAP) ** 2 for d in diff)
            leak = (1 - s) * margin_nats
            for g in (0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 4.0):
                f = min(leak / g / n, 1.0)
                q = leak * g / (leak * g + honest)
                drawn = (1 - f) ** DRAWN
                table.setdefault((s, g), []).append((f, q, drawn * (1 - q) ** probes, drawn))
    print("margin %.4f bpb, %d targets, %d king pairs, %d aimed probes" % (margin, n, len(kings) - 1, probes))
    print("%-5s %-6s %-16s %-16s %-16s %s" % ("s", "g", "leaked", "aimed draw", "passes all", "drawn only"))
    for (s, g), rows in sorted(table.items()):
        col = lambda i: "%5.2f-%5.2f%%" % (100 * min(r[i] for r in rows), 100 * max(r[i] for r in rows))
        print("%-5.1f %-6.1f %-16s %-16s %-16s %s" % (s, g, col(0), col(1), col(2), col(3)))


if __name__ == "__main__":
    main()
