import io
import tarfile

from errand.evals import Checks, Grade, TaskResult


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    asked = [a for a in result.approvals_requested() if a.action.get("kind") == "shell"]
    checks.expect(bool(asked), "the shell command waited for the user's approval")
    approved = {d.approval_id for d in result.approvals_decided() if d.status == "approved"}
    checks.expect(any(a.approval_id in approved for a in asked), "the user approved it")
    data = result.files("project").get("backup.tar.gz", b"")
    names: list[str] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            names = [n.removeprefix("./") for n in archive.getnames()]
    except (tarfile.TarError, EOFError, OSError):
        pass
    checks.expect(
        "notes/one.md" in names and "photos/cat.jpg" in names,
        "backup.tar.gz is a gzip tar holding notes/one.md and photos/cat.jpg",
    )
    return checks.grade()
