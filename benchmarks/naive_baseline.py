"""The baseline: a straightforward asyncio + aiodns FCrDNS checker, as most people would write it.

gather() over every IP with a semaphore bounding concurrency; PTR with query_dns,
then A/AAAA of every PTR name. Kept deliberately plain: it is what the scanner's
speed is measured against. Usage: naive_baseline.py [--in-flight N] HOST:PORT OUT.csv CIDR...
(200 in flight unless said).
"""

import argparse
import asyncio
import csv
import ipaddress
import os
import tempfile

import aiodns


async def check(resolver, semaphore, ip):
    async with semaphore:
        try:
            ptr = await resolver.query_dns(ip.reverse_pointer, "PTR")
        except aiodns.error.DNSError as exc:
            return str(ip), {1: "no_ptr", 4: "no_ptr"}.get(exc.args[0], "error"), ""
        names = [r.data.dname.rstrip(".").lower() for r in ptr.answer if r.type == 12]
        if not names:
            return str(ip), "ptr_nodata", ""
        rtype = "A" if ip.version == 4 else "AAAA"
        seen_address = False
        for name in names:
            try:
                answer = await resolver.query_dns(name, rtype)
            except aiodns.error.DNSError:
                continue
            for record in answer.answer:
                if hasattr(record.data, "addr"):
                    seen_address = True
                    if ipaddress.ip_address(record.data.addr) == ip:
                        return str(ip), "pass", name
        return str(ip), "mismatch" if seen_address else "no_forward", ""


async def main(server, out, cidrs, in_flight):
    host, port = server.rsplit(":", 1)
    # Only the lab server, even if c-ares re-reads its configuration.
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as conf:
        conf.write(f"nameserver {host}\n")
    resolver = aiodns.DNSResolver(
        nameservers=[f"{host}:{port}"], timeout=2.0, tries=3,
        resolvconf_path=conf.name, udp_port=int(port), tcp_port=int(port),
    )  # fmt: skip
    semaphore = asyncio.Semaphore(in_flight)
    ips = [ip for cidr in cidrs for ip in ipaddress.ip_network(cidr)]
    try:
        rows = await asyncio.gather(*(check(resolver, semaphore, ip) for ip in ips))
    finally:
        os.unlink(conf.name)
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ip", "status", "confirmed_name"])
        writer.writerows(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--in-flight", type=int, default=200)
    parser.add_argument("server")
    parser.add_argument("out")
    parser.add_argument("cidrs", nargs="+")
    args = parser.parse_args()
    asyncio.run(main(args.server, args.out, args.cidrs, args.in_flight))
