"""Runs the scim2-tester compliance suite (RFC 7643/7644) against a running Cascade's /scim/v2
with a partner key, prints every check that did not pass, and fails on any error.

usage: python3 .ci/scim_check.py <base url of /scim/v2> <partner key>
"""

import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server


def main() -> int:
    url, key = sys.argv[1], sys.argv[2]
    client = SyncSCIMClient(
        httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {key}"})
    )
    client.discover()
    results = check_server(client)
    passed = sum(1 for r in results if r.status.name == "SUCCESS")
    failed = [r for r in results if r.status.name in ("ERROR", "CRITICAL")]
    for r in results:
        if r.status.name != "SUCCESS":
            print(f"{r.status.name} {r.title}: {r.reason}")
    print(f"scim2-tester: {passed} passed, {len(failed)} failed, {len(results)} checks")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
