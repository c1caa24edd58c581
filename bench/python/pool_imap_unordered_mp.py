"""pool-map for Python processes: multiprocessing.Pool(2).imap_unordered of the same function
over range(n), `Pool.map`'s default chunk size. Prints `ns_per_op=<float>` (per item).

Usage: python3 pool_imap_unordered_mp.py <n>
"""

from multiprocessing import Pool

import pool_map

if __name__ == "__main__":
    pool_map.main(Pool, pool_map.unordered)
