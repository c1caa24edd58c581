"""pool-map for Python processes: multiprocessing.Pool(2).map of a small CPU function over
range(n), with Python's default chunk size. Prints `ns_per_op=<float>` (per item).

Usage: python3 pool_map_mp.py <n>
"""

from multiprocessing import Pool

import pool_map

if __name__ == "__main__":
    pool_map.main(Pool)
