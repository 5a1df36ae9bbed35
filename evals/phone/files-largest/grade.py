from errand.evals import Checks, Grade, TaskResult


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    files = result.starting_files("downloads")
    expected = sorted(files, key=lambda name: len(files[name]), reverse=True)[:3]
    text = result.read("out", "largest.txt") or ""
    # A line may carry the size first ("15000 videos/holiday.mp4"); the path is its last word.
    lines = [line.split()[-1].removeprefix("./") for line in text.splitlines() if line.strip()]
    checks.expect(bool(text), "out/largest.txt was written")
    checks.expect(lines == expected, f"it lists {expected}, largest first")
    checks.expect(result.unchanged("downloads"), "nothing in downloads was changed")
    return checks.grade()
