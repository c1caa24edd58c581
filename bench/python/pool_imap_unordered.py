"""pool-map for Python: multiprocessing.pool.ThreadPool(2).imap_unordered of the same function
over range(n), `Pool.map`'s default chunk size. Prints `ns_per_op=<float>` (per item).

Usage: python3 pool_imap_unordered.py <n>
"""

from multiprocessing.pool import ThreadPool

import pool_map

if __name__ == "__main__":
    pool_map.main(ThreadPool, pool_map.unordered)
