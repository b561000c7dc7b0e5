"""Write the demo corpus: a small generated dataset in the exact ASVspoof layouts.

    python3 -m tools.make_demo_corpus --out DIR [--seed N] [--workers 2]
"""
import argparse
import time

from recipes.demo.corpus import make_demo_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', required=True, help='folder to write the corpus into')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--workers', type=int, default=2)
    options = parser.parse_args()
    start = time.time()
    roots = make_demo_corpus(options.out, options.seed, options.workers)
    print(f"demo corpus written in {time.time() - start:.1f} s; use:")
    for key, path in roots.items():
        print(f"  {key}={path}")


if __name__ == '__main__':
    main()
