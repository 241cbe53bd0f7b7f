#!/usr/bin/env python3
"""Times plain ListObjectsV2 requests against an S3 endpoint that takes anonymous requests (s3rver),
with no walship in the loop: the floor the server sets for `walship list`.
Usage: raw-list.py <endpoint> <bucket> <wal-prefix> [parallel]
  Lists <wal-prefix> (e.g. list-100000-16777216/wal/00000001/) delimited, as walship lists a timeline,
  then every partition it names, [parallel] at once (default 1), and prints per-request latencies."""
import sys, time, urllib.parse, urllib.request, xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

endpoint, bucket, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
parallel = int(sys.argv[4]) if len(sys.argv) > 4 else 1

def list_all(prefix, delimiter=None):
    """Every page of one listing: (keys, common prefixes, pages, seconds per page)."""
    keys, prefixes, times, token = [], [], [], None
    while True:
        query = {'list-type': '2', 'prefix': prefix, 'max-keys': '1000'}
        if delimiter: query['delimiter'] = delimiter
        if token: query['continuation-token'] = token
        start = time.perf_counter()
        with urllib.request.urlopen(f'{endpoint}/{bucket}?{urllib.parse.urlencode(query)}') as response:
            root = ET.fromstring(response.read())
        times.append(time.perf_counter() - start)
        for e in root.iter():
            e.tag = e.tag.rsplit('}', 1)[-1]  # with or without the S3 namespace
        keys += [e.text for e in root.iter('Key')]
        prefixes += [p.findtext('Prefix') for p in root.iter('CommonPrefixes')]
        if root.findtext('IsTruncated') != 'true':
            return keys, prefixes, times
        token = root.findtext('NextContinuationToken')

start = time.perf_counter()
_, partitions, times = list_all(prefix, '/')
print(f'delimited listing of {prefix}: {len(partitions)} partitions, {len(times)} page(s), {sum(times):.2f} s')
begin = time.perf_counter()
with ThreadPoolExecutor(parallel) as pool:
    results = list(pool.map(list_all, partitions))
elapsed = time.perf_counter() - begin
pages = sorted(t for _, _, ts in results for t in ts)
objects = sum(len(k) for k, _, _ in results)
print(f'{len(partitions)} partition listings, {parallel} at once: {objects} objects, {len(pages)} pages in {elapsed:.2f} s; '
      f'page latency median {pages[len(pages) // 2] * 1000:.1f} ms, p90 {pages[len(pages) * 9 // 10] * 1000:.1f} ms')
print(f'total {time.perf_counter() - start:.2f} s')
