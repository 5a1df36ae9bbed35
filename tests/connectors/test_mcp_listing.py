"""Untrusted tool listings and results become what the model may see, and no more."""

from __future__ import annotations

import base64

import mcp_types as types

from errand.mcp.listing import MAX_TOOLS, exposed_name, listing, schema_problem
from errand.mcp.results import tool_output


def _tool(name: str, schema: dict[str, object]) -> types.Tool:
    return types.Tool(name=name, description="Does it.\nMore words.", input_schema=schema)


def test_names_are_prefixed_and_made_safe() -> None:
    assert exposed_name("git", "git_status") == "mcp__git__git_status"
    assert exposed_name("fs", "read.file/v2") == "mcp__fs__read_file_v2"


def test_invalid_and_oversized_schemas_are_left_out_with_reasons() -> None:
    found = listing(
        "s",
        [
            _tool("ok", {"type": "object", "properties": {"a": {"type": "string"}}}),
            _tool("bad", {"type": "object", "properties": {"a": {"type": "nope"}}}),
            _tool("array", {"type": "array"}),
            _tool("huge", {"type": "object", "description": "x" * 20_000}),
            _tool("o.k", {"type": "object"}),
            _tool("o_k", {"type": "object"}),
            _tool("x" * 70, {"type": "object"}),
        ],
    )
    assert [t.name for t in found.tools] == ["mcp__s__ok", "mcp__s__o_k"]
    assert found.tools[0].summary == "Does it."
    reasons = "\n".join(found.skipped)
    assert "tool 'bad': its input schema is not valid JSON Schema" in reasons
    assert "tool 'array': its input schema does not describe an object" in reasons
    assert "tool 'huge': its input schema is" in reasons
    assert "tool 'o_k': its name clashes" in reasons
    assert "its name is too long" in reasons
    assert schema_problem({"type": "object"}) is None


def test_a_flood_is_cut_to_the_limit() -> None:
    found = listing("s", [_tool(f"t{i}", {"type": "object"}) for i in range(MAX_TOOLS + 50)])
    assert len(found.tools) == MAX_TOOLS
    assert found.skipped == (f"50 more tools (a server may offer at most {MAX_TOOLS})",)


def test_results_text_images_and_resources() -> None:
    png = base64.b64encode(b"\x89PNG" + b"0" * 2044).decode()
    result = types.CallToolResult(
        content=[
            types.TextContent(text="hello"),
            types.ImageContent(data=png, mime_type="image/png"),
            types.EmbeddedResource(
                resource=types.TextResourceContents(
                    uri="test://a", text="inside", mime_type="text/plain"
                )
            ),
            types.EmbeddedResource(resource=types.BlobResourceContents(uri="test://b", blob=png)),
            types.ResourceLink(uri="test://c", name="c"),
        ]
    )
    out = tool_output("mcp__s__t", result)
    assert not out.is_error
    assert out.content.splitlines() == [
        "hello",
        "[image: image/png, 2.0 KB; not shown to the model]",
        "[resource test://a (text/plain)]",
        "inside",
        "[resource test://b: binary, 2.0 KB; not shown to the model]",
        "[resource link: test://c (c)]",
    ]


def test_an_error_result_stays_an_error() -> None:
    result = types.CallToolResult(content=[types.TextContent(text="no such repo")], is_error=True)
    out = tool_output("mcp__git__git_status", result)
    assert out.is_error
    assert out.content == "mcp__git__git_status reported an error: no such repo"
    empty = tool_output("t", types.CallToolResult(content=[], structured_content={"a": 1}))
    assert '"a": 1' in empty.content
