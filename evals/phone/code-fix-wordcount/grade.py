from errand.evals import Checks, Grade, TaskResult


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    run = result.verified["run"]
    checks.expect(run.exit_code == 0, "wordcount.py runs without crashing")
    lines = run.output.strip().splitlines()
    # "the" and "cat" appear 4 times; four words tie at 2 for third place.
    checks.expect(
        len(lines) == 3 and set(lines[:2]) == {"the 4", "cat 4"} and lines[2].endswith(" 2"),
        "it prints the top three words with their counts",
    )
    sample = result.starting_files("tools")["sample.txt"]
    checks.expect(result.files("tools").get("sample.txt") == sample, "sample.txt is unchanged")
    return checks.grade()
