import re
import sys
from collections import Counter


def top_words(text, n=3):
    words = re.findall(r"[a-z']+", text.lower())
    return Counter(words).most_common(n)


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        for word, count in top_words(fh):
            print(f"{word} {count}")
