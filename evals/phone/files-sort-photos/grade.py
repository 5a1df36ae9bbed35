from errand.evals import Checks, Grade, TaskResult

MOVES = {
    "IMG_20250601_101500.jpg": "2025-06/IMG_20250601_101500.jpg",
    "IMG_20250615_183000.jpg": "2025-06/IMG_20250615_183000.jpg",
    "IMG_20250702_090000.jpg": "2025-07/IMG_20250702_090000.jpg",
    "IMG_20241231_235959.jpg": "2024-12/IMG_20241231_235959.jpg",
    "notes.txt": "notes.txt",
}


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    before = result.starting_files("photos")
    after = result.files("photos")
    checks.expect(sorted(after) == sorted(MOVES.values()), "each photo is in its month folder")
    checks.expect(
        all(after.get(new) == before[old] for old, new in MOVES.items()),
        "every file kept its contents",
    )
    return checks.grade()
