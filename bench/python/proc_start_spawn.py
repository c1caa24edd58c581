"""proc-start for Python: n times multiprocessing.Process(target=noop) started and joined,
start method "spawn". Prints `ns_per_op=<float>` (per start+join).

Usage: python3 proc_start_spawn.py <n>
"""

import proc_common

if __name__ == "__main__":
    proc_common.main_starts("spawn")
