from errand.evals import Checks, Grade, TaskResult


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    checks.expect(result.unchanged("archive"), "the archive is unchanged")
    index = result.read("out", "index.txt")
    checks.expect(index is not None, "out/index.txt was written")
    lines = [line.strip().removeprefix("./") for line in (index or "").splitlines() if line.strip()]
    checks.expect(lines == sorted(result.starting_files("archive")), "it lists every file, sorted")
    return checks.grade()
