"""`make bench`: every benchmark, each reported as a ratio against a baseline in the same run."""

from __future__ import annotations

import json
import sys

from bench import browser_bench, crawl_bench, evidence_bench, index_bench, nlp_bench, web_bench


def main(argv: list[str]) -> int:
    results = {"nlp": nlp_bench.run()}
    print(nlp_bench.report(results["nlp"]), file=sys.stderr)
    results["crawl"] = crawl_bench.run()
    print(crawl_bench.report(results["crawl"]), file=sys.stderr)
    results["evidence"] = evidence_bench.run()
    print(evidence_bench.report(results["evidence"]), file=sys.stderr)
    results["index"] = index_bench.run()
    print(index_bench.report(results["index"]), file=sys.stderr)
    results["browser"] = browser_bench.run()
    print(browser_bench.report(results["browser"]), file=sys.stderr)
    results["web"] = web_bench.run()
    print(web_bench.report(results["web"]), file=sys.stderr)
    if "--json" in argv:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
