"""Static checks of the PowerShell module (pwsh cannot run here; tree-sitter-pwsh reads the files).

Each check is also run on a deliberately broken file from ``tests/powershell_fixtures`` to show
that it fails when a cmdlet is broken.
"""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import tree_sitter
import yaml

import powershell_static as ps

FIXTURES = Path(__file__).parent / "powershell_fixtures"
APPROVED_VERBS = {
    "Add",
    "Complete",
    "Export",
    "Get",
    "Import",
    "New",
    "Register",
    "Remove",
    "Resume",
    "Set",
    "Start",
    "Stop",
    "Suspend",
    "Unregister",
    "Wait",
}
TYPE_NAMES = {
    "Bcs.Job",
    "Bcs.UrlGroup",
    "Bcs.Url",
    "Bcs.Server",
    "Bcs.SslCertificate",
    "Bcs.UploadSession",
    "Bcs.Authentication",
    "Bcs.ScheduledTask",
}


def _all_functions() -> list[ps.Function]:
    return list(ps.module_functions().values())


def _ids(items: list[Path]) -> list[str]:
    return [ps.rel(p) for p in items]


def test_the_module_has_the_files_of_the_design() -> None:
    for name in ("BitsCompactServer.psd1", "BitsCompactServer.psm1", "BitsCompactServer.Format.ps1xml"):
        assert (ps.ROOT / name).is_file(), name
    assert ps.cmdlet_files(), "cmdlets/*.ps1"
    assert (ps.ROOT / "cmdlets" / "private" / "Invoke-BcsRpc.ps1").is_file()


@pytest.mark.parametrize("path", ps.powershell_files(), ids=_ids(ps.powershell_files()))
def test_powershell_file_parses_without_error_or_missing_nodes(path: Path) -> None:
    assert ps.syntax_problems(path) == []


def test_syntax_check_reports_file_and_line_of_a_broken_file() -> None:
    problems = ps.syntax_problems(FIXTURES / "Broken-Syntax.ps1")
    assert problems, "a broken file must fail the parse check"
    assert any(p.startswith("tests/powershell_fixtures/Broken-Syntax.ps1:13:") for p in problems), problems


def test_syntax_check_rejects_a_typed_parameter_after_a_default_value(tmp_path: Path) -> None:
    # PowerShell reads two parameters here, tree-sitter-pwsh one: the analysis would miss -B.
    script = tmp_path / "Get-BcsThing.ps1"
    script.write_text(
        "function Get-BcsThing {\n    param(\n        [int]$A = 1,\n        [int]$B\n    )\n}\n"
    )
    assert any("must start with an attribute" in p for p in ps.syntax_problems(script))


def test_each_cmdlet_file_defines_exactly_the_function_named_like_the_file() -> None:
    assert ps.layout_problems(ps.cmdlet_files()) == []


def test_each_private_file_defines_one_function_or_only_module_settings() -> None:
    assert ps.layout_problems(ps.private_files(), private=True) == []


def test_layout_check_fails_when_the_function_name_differs_from_the_file(tmp_path: Path) -> None:
    wrong = tmp_path / "Get-BcsJob.ps1"
    wrong.write_text((ps.ROOT / "cmdlets" / "Get-BcsServer.ps1").read_text())
    assert ps.layout_problems([wrong]) != []


def test_root_module_only_dot_sources_private_helpers_then_cmdlets() -> None:
    source = ps.ROOT_MODULE.read_text()
    code = [line.strip() for line in source.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert code[0].startswith("foreach") and "'cmdlets/private'" in code[0]
    assert ". $file.FullName" in code
    assert sum("Get-ChildItem" in line for line in code) == 2
    assert source.index("cmdlets/private") < source.index("ChildPath 'cmdlets')")
    assert not re.search(r"Export-ModuleMember|Set-StrictMode|^\s*function ", "\n".join(code), re.MULTILINE)


def test_manifest_exports_exactly_the_cmdlet_files_for_desktop_and_core() -> None:
    assert ps.manifest_problems() == []


def test_manifest_check_fails_when_a_cmdlet_is_not_exported(tmp_path: Path) -> None:
    for name in (
        "BitsCompactServer.psd1",
        "BitsCompactServer.Format.ps1xml",
        "BitsCompactServer.Types.ps1xml",
    ):
        (tmp_path / name).write_text((ps.ROOT / name).read_text())
    (tmp_path / "cmdlets").mkdir()
    for path in ps.cmdlet_files():
        (tmp_path / "cmdlets" / path.name).write_text(path.read_text())
    (tmp_path / "cmdlets" / "Get-BcsExtra.ps1").write_text("function Get-BcsExtra { }\n")
    assert any("Get-BcsExtra" in p for p in ps.manifest_problems(tmp_path))


def test_cmdlets_use_approved_verbs_and_the_bcs_noun_prefix() -> None:
    for path in ps.cmdlet_files():
        verb, _, noun = path.stem.partition("-")
        assert verb in APPROVED_VERBS, path.stem
        assert noun.startswith("Bcs") and not noun.endswith("s"), path.stem


@pytest.mark.parametrize("function", _all_functions(), ids=[f.name for f in _all_functions()])
def test_help_has_synopsis_description_example_outputs_and_every_parameter(function: ps.Function) -> None:
    assert ps.help_problems(function) == []


@pytest.mark.parametrize("function", _all_functions(), ids=[f.name for f in _all_functions()])
def test_state_changing_cmdlets_call_the_engine_only_inside_should_process(function: ps.Function) -> None:
    assert ps.should_process_problems(function, ps.module_functions()) == []


@pytest.mark.parametrize("function", _all_functions(), ids=[f.name for f in _all_functions()])
def test_no_write_host_and_no_aliases(function: ps.Function) -> None:
    assert ps.command_problems(function) == []


@pytest.mark.parametrize("function", _all_functions(), ids=[f.name for f in _all_functions()])
def test_identity_parameters_bind_from_the_pipeline_by_property_name(function: ps.Function) -> None:
    assert ps.pipeline_problems(function) == []


def test_structure_checks_fail_for_a_broken_cmdlet() -> None:
    (broken,) = ps.functions_in(FIXTURES / "Remove-BcsBroken.ps1")
    broken.path = ps.ROOT / "cmdlets" / "Remove-BcsBroken.ps1"  # judged as if it were exported
    help_ = ps.help_problems(broken)
    assert any(".SYNOPSIS" in p for p in help_) and any(".PARAMETER Undocumented" in p for p in help_)
    should = ps.should_process_problems(broken)
    assert any("SupportsShouldProcess" in p for p in should)
    assert any("ConfirmImpact = 'High'" in p for p in should)
    assert any("job.cancel changes state outside" in p for p in should)
    commands = ps.command_problems(broken)
    assert any("Write-Host" in p for p in commands)
    assert any("'gci'" in p for p in commands) and any("'%'" in p for p in commands)
    assert any("-JobId must bind" in p for p in ps.pipeline_problems(broken))


def test_every_cmdlet_declares_its_output_type_and_typed_objects_have_a_view() -> None:
    views = _format_views()
    for f in _all_functions():
        if f.path.parent.name != "cmdlets":
            continue
        for output in f.output_types:
            name = ps.unquote(output)
            if name.startswith("Bcs.") and name in TYPE_NAMES:
                assert name in views, f"{f.name}: no view for {name}"
    assert set(views) == TYPE_NAMES


def _format_views() -> dict[str, list[str]]:
    """The properties each type's view shows: a table (one header per column) or, for a settings
    object of which there is only one (Bcs.Authentication), a list (each item a property or a
    labelled script block)."""
    tree = ET.parse(ps.ROOT / "BitsCompactServer.Format.ps1xml")
    views: dict[str, list[str]] = {}
    for view in tree.getroot().iter("View"):
        type_name = view.findtext("ViewSelectedBy/TypeName")
        assert type_name, "a view without ViewSelectedBy/TypeName"
        list_items = view.findall("ListControl/ListEntries/ListEntry/ListItems/ListItem")
        if list_items:
            for item in list_items:
                assert item.findtext("PropertyName") or (
                    item.findtext("Label") and item.findtext("ScriptBlock")
                ), f"view {type_name}: a list item needs a PropertyName, or a Label and a ScriptBlock"
            views[type_name] = [item.findtext("PropertyName") or "" for item in list_items]
            continue
        headers = view.findall("TableControl/TableHeaders/TableColumnHeader")
        items = view.findall("TableControl/TableRowEntries/TableRowEntry/TableColumnItems/TableColumnItem")
        assert headers and len(headers) == len(items), f"view {type_name}: headers and items differ"
        views[type_name] = [item.findtext("PropertyName") or "" for item in items]
    return views


def test_types_file_extends_only_the_module_types() -> None:
    tree = ET.parse(ps.ROOT / "BitsCompactServer.Types.ps1xml")
    names = {t.findtext("Name") for t in tree.getroot().iter("Type")}
    assert names <= TYPE_NAMES | {"Bcs.Configuration"}


def test_about_help_names_every_exported_cmdlet() -> None:
    about = (ps.ROOT / "en-US" / "about_BitsCompactServer.help.txt").read_text()
    assert about.startswith("TOPIC\n    about_BitsCompactServer")
    for section in ("SHORT DESCRIPTION", "LONG DESCRIPTION", "EXAMPLES", "SEE ALSO"):
        assert f"\n{section}\n" in about, section
    for path in ps.cmdlet_files():
        assert path.stem in about, path.stem


def test_cmdlets_build_rpc_params_in_one_uniform_pattern() -> None:
    # Every Invoke-BcsRpc call passes the calling cmdlet and a literal method name.
    for f in _all_functions():
        for call in f.rpc_calls():
            assert call.method is not None and re.fullmatch(r"[a-z]+\.[A-Za-z]+", call.method), f.line_of(
                call.node
            )
            assert "-Cmdlet $PSCmdlet" in ps.text(f.source, call.node) or "-Cmdlet $Cmdlet" in ps.text(
                f.source, call.node
            )


SCRIPTS = sorted((ps.ROOT / "examples").glob("*.ps1")) + sorted((ps.ROOT / "pester").glob("*.ps1"))


@pytest.mark.parametrize("path", SCRIPTS, ids=_ids(SCRIPTS))
def test_examples_and_pester_tests_use_no_write_host_and_no_aliases(path: Path) -> None:
    assert ps.script_command_problems(path) == []


def test_script_check_fails_for_aliases_in_a_script() -> None:
    problems = ps.script_command_problems(FIXTURES / "Remove-BcsBroken.ps1")
    assert any("Write-Host" in p for p in problems) and any("'gci'" in p for p in problems)


def test_hello_world_example_walks_through_group_url_job_progress_and_complete() -> None:
    (example,) = [p for p in SCRIPTS if p.name == "HelloWorld.ps1"]
    source, tree = ps.parse(example)
    commands = [ps.text(source, n) for n in ps.walk(tree.root_node) if n.type == "command_name"]
    flow = [
        "Start-BcsServer",
        "New-BcsUrlGroup",
        "Add-BcsUrl",
        "Start-BcsJob",
        "Wait-BcsJob",
        "Complete-BcsJob",
        "Stop-BcsServer",
    ]
    positions = [commands.index(c) for c in flow]
    assert positions == sorted(positions), commands
    assert "Write-Progress" in (ps.ROOT / "cmdlets" / "private" / "Wait-BcsJobChange.ps1").read_text()


def test_pester_suite_covers_manifest_help_parameters_and_an_end_to_end_run() -> None:
    names = {p.name for p in (ps.ROOT / "pester").glob("*.Tests.ps1")}
    assert names >= {"Manifest.Tests.ps1", "Help.Tests.ps1", "Parameters.Tests.ps1", "EndToEnd.Tests.ps1"}
    assert "examples/HelloWorld.ps1" in (ps.ROOT / "pester" / "EndToEnd.Tests.ps1").read_text()


def test_workflow_runs_pester_with_pwsh_on_windows_and_ubuntu_after_installing_the_engine() -> None:
    workflow = yaml.safe_load((ps.ROOT / ".github" / "workflows" / "powershell.yml").read_text())
    job = workflow["jobs"]["pester"]
    platforms = {(m["os"], m["shell"]) for m in job["strategy"]["matrix"]["include"]}
    assert {
        ("ubuntu-latest", "pwsh"),
        ("windows-latest", "pwsh"),
        ("windows-latest", "powershell"),
    } <= platforms
    steps = "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) for step in job["steps"])
    for needed in (
        "actions/setup-python",
        "pip install -e .",
        "Install-Module -Name Pester -MinimumVersion 5",
        "Invoke-Pester",
    ):
        assert needed in steps, needed


def _functions_and_example() -> list[ps.Function]:
    return [*_all_functions(), ps.script_function(ps.ROOT / "examples" / "HelloWorld.ps1")]


@pytest.mark.parametrize("function", _functions_and_example(), ids=[f.name for f in _functions_and_example()])
def test_no_variable_is_read_without_being_assigned_and_every_parameter_is_used(
    function: ps.Function,
) -> None:
    assert ps.variable_problems(function) == []


@pytest.mark.parametrize("function", _functions_and_example(), ids=[f.name for f in _functions_and_example()])
def test_commands_get_their_arguments_by_parameter_name(function: ps.Function) -> None:
    assert ps.positional_problems(function) == []


def test_typo_checks_fail_for_a_misspelt_variable_parameter_name_and_a_positional_argument() -> None:
    (typo,) = ps.functions_in(FIXTURES / "Set-BcsTypo.ps1")
    problems = ps.variable_problems(typo)
    assert any("$parmas is never assigned" in p for p in problems), problems
    assert any("-Forgotten is never used" in p for p in problems), problems
    assert any("ContainsKey('Descripton') names no parameter" in p for p in problems), problems
    assert any("Join-Path gets the positional argument '$JobId'" in p for p in ps.positional_problems(typo))


def _callers() -> list[ps.Function]:
    scripts = sorted((ps.ROOT / "examples").glob("*.ps1")) + sorted((ps.ROOT / "pester").glob("*.ps1"))
    return [*_all_functions(), *(ps.script_function(p) for p in scripts)]


@pytest.mark.parametrize("caller", _callers(), ids=[f"{f.path.parent.name}/{f.name}" for f in _callers()])
def test_calls_of_module_functions_use_declared_parameter_names_and_give_mandatory_ones(
    caller: ps.Function,
) -> None:
    assert ps.call_problems(caller, ps.module_functions()) == []


def test_call_check_fails_for_a_misspelt_parameter_and_a_missing_mandatory_one() -> None:
    (typo,) = ps.functions_in(FIXTURES / "Set-BcsTypo.ps1")
    problems = ps.call_problems(typo, ps.module_functions())
    assert any("New-BcsErrorRecord has no parameter -mesage" in p for p in problems), problems
    assert any("New-BcsErrorRecord needs -Message" in p for p in problems), problems
    assert any("Wait-BcsJob has no parameter -timeot" in p for p in problems), problems
    assert not any("Wait-BcsJob needs -JobId" in p for p in problems), "-JobId comes from the pipeline"


# --- Windows PowerShell 5.1, parameter sets, ConvertTo-Json ------------------------------------------

ALL_FILES = ps.powershell_files()


@pytest.mark.parametrize("path", ALL_FILES, ids=_ids(ALL_FILES))
def test_module_files_use_nothing_that_windows_powershell_51_lacks(path: Path) -> None:
    assert ps.windows_powershell_problems(path) == []


def test_windows_powershell_check_reports_each_denylisted_construct_with_file_and_line() -> None:
    fixture = FIXTURES / "Get-BcsPowerShell7.ps1"
    assert ps.syntax_problems(fixture) == [], "the fixture must parse, or the check sees a partial tree"
    problems = ps.windows_powershell_problems(fixture)
    for kind, what, reason in ps.WINDOWS_POWERSHELL_51_DENYLIST:
        if kind == "unparsed":
            continue
        hits = [p for p in problems if reason in p]
        assert hits, f"{kind} {what!r} not reported"
        where = re.compile(r"tests/powershell_fixtures/Get-BcsPowerShell7\.ps1:\d+: ")
        assert all(where.match(p) for p in hits), hits
    # An abbreviated parameter counts (-SkipHeaderVal), and lines are exact.
    assert any(p.startswith(f"{ps.rel(fixture)}:27:") and "SkipHeaderValidation" in p for p in problems)
    assert any(p.startswith(f"{ps.rel(fixture)}:42:") and "clean" in p for p in problems)


def test_null_conditional_operators_fail_the_parse_check_as_the_denylist_notes() -> None:
    unparsed = [what for kind, what, _ in ps.WINDOWS_POWERSHELL_51_DENYLIST if kind == "unparsed"]
    assert unparsed == ["${a}?.b", "${a}?[0]"]
    problems = ps.syntax_problems(FIXTURES / "Get-BcsNullConditional.ps1")
    lines = {int(p.split(":")[1]) for p in problems}
    assert {12, 13} <= lines, problems


def test_windows_powershell_check_allows_what_51_has(tmp_path: Path) -> None:
    script = tmp_path / "Get-BcsFine.ps1"
    script.write_text(
        "using namespace System.IO\n"
        "$h = [ordered]@{ a = 1 }\n"
        "$x = if ($h) { 1 } else { 2 }\n"
        "$y = @(1, 2).Where({ $_ -gt 1 })\n"
        "$z = 'a' -replace 'a', 'b'\n"
        "$p = Join-Path -Path 'a' -ChildPath 'b' -Resolve\n"
        "$q = Join-Path 'a' 'b'\n"
        "$j = ConvertFrom-Json -InputObject '{}'\n"
        "Out-File -FilePath 'x' -InputObject $j -Encoding UTF8\n"
        "Get-Item -Path 'x' -Debug\n"
    )
    assert ps.syntax_problems(script) == []
    assert ps.windows_powershell_problems(script) == []


@pytest.mark.parametrize("function", _all_functions(), ids=[f.name for f in _all_functions()])
def test_parameter_sets_bind_positional_and_piped_arguments_to_the_intended_parameter(
    function: ps.Function,
) -> None:
    assert ps.parameter_set_problems(function) == []


def test_parameter_set_check_fails_for_one_position_in_two_sets_of_the_same_type() -> None:
    (broken,) = ps.functions_in(FIXTURES / "Get-BcsJobPositional.ps1")
    (problem,) = ps.parameter_set_problems(broken)
    assert problem.startswith("tests/powershell_fixtures/Get-BcsJobPositional.ps1:13: Get-BcsJobPositional:")
    assert "never binds -JobId" in problem and "default set 'List'" in problem


def test_parameter_set_check_fails_when_the_default_set_latches_piped_input() -> None:
    (broken,) = ps.functions_in(FIXTURES / "Import-BcsLatched.ps1")
    (problem,) = ps.parameter_set_problems(broken)
    assert problem.startswith("tests/powershell_fixtures/Import-BcsLatched.ps1:14: Import-BcsLatched:")
    assert "-Yaml (ValueFromPipeline, set 'Yaml') never binds a piped value" in problem
    assert "mandatory -Path takes pipeline input by property name" in problem


def _function_from(tmp_path: Path, body: str) -> ps.Function:
    script = tmp_path / "Get-BcsSets.ps1"
    script.write_text("function Get-BcsSets {\n" + body + "\n}\n")
    assert ps.syntax_problems(script) == []
    (f,) = ps.functions_in(script)
    return f


def test_parameter_set_check_allows_one_position_for_types_that_need_no_coercion_to_tell_apart(
    tmp_path: Path,
) -> None:
    # Get-BitsTransfer's shape: a [guid] goes to -JobId, a [string] to -Name, without coercion.
    f = _function_from(
        tmp_path,
        "[CmdletBinding(DefaultParameterSetName = 'List')]\nparam(\n"
        "[Parameter(Mandatory, Position = 0, ParameterSetName = 'JobId')]\n[guid[]]$JobId,\n"
        "[Parameter(Position = 0, ParameterSetName = 'List')]\n[string]$Name\n)",
    )
    assert ps.parameter_set_problems(f) == []


def test_parameter_set_check_fails_for_one_position_twice_in_one_set(tmp_path: Path) -> None:
    f = _function_from(
        tmp_path,
        "[CmdletBinding()]\nparam(\n[Parameter(Position = 0)]\n[string]$A,\n"
        "[Parameter(Position = 0)]\n[int]$B\n)",
    )
    assert any("both at Position 0 in set" in p for p in ps.parameter_set_problems(f))


@pytest.mark.parametrize("path", ALL_FILES, ids=_ids(ALL_FILES))
def test_every_convert_to_json_call_has_depth_and_compress(path: Path) -> None:
    assert ps.convert_to_json_problems(path) == []


def test_convert_to_json_check_fails_without_depth_or_compress() -> None:
    assert ps.convert_to_json_problems(FIXTURES / "Send-BcsJson.ps1") == [
        "tests/powershell_fixtures/Send-BcsJson.ps1:12: ConvertTo-Json without -Depth",
        "tests/powershell_fixtures/Send-BcsJson.ps1:13: ConvertTo-Json without -Compress",
    ]


# --- job settings shared through Add-BcsJobSetting ---------------------------------------------------

INLINE = FIXTURES / "inline"  # Start-BcsJob and Set-BcsJob as they were before Add-BcsJobSetting
SHARED_SETTING_CALLERS = ("Start-BcsJob", "Set-BcsJob")


def test_private_helpers_get_exactly_their_parameters_declared_as_in_each_caller() -> None:
    functions = ps.module_functions()
    problems = [p for f in functions.values() for p in ps.forwarding_problems(f, functions)]
    assert problems == []
    for name in SHARED_SETTING_CALLERS:  # the rule has something to check
        assert ps._forwarding_loops(functions[name], None), name


def test_forwarding_check_fails_for_a_helper_that_drifted_from_its_caller() -> None:
    (caller,) = ps.functions_in(FIXTURES / "Set-BcsJobDrift.ps1")
    (helper,) = ps.functions_in(FIXTURES / "private" / "Add-BcsJobDrift.ps1")
    functions = {**ps.module_functions(), caller.name: caller, helper.name: helper}
    lists = {"bcsdriftparameters": ["RetryInterval", "BandwidthLimit", "Credential", "Priority"]}
    problems = ps.forwarding_problems(caller, functions, lists)
    expected = [
        ("Set-BcsJobDrift.ps1:58:", "-RetryInterval is both splatted and passed"),
        ("Set-BcsJobDrift.ps1:58:", "splats -Priority, which Add-BcsJobDrift does not declare"),
        ("Set-BcsJobDrift.ps1:58:", "forwards -Priority, which Set-BcsJobDrift does not declare"),
        ("Set-BcsJobDrift.ps1:58:", "Add-BcsJobDrift -Proxy is neither splatted nor passed"),
        ("Add-BcsJobDrift.ps1:41:", "default 'Basic' differs from the caller's 'Negotiate'"),
        ("Add-BcsJobDrift.ps1:44:", "validation {} differs"),
        ("Add-BcsJobDrift.ps1:47:", "type [string] differs from the caller's [long]"),
    ]
    for where, what in expected:
        assert any(where in p and what in p for p in problems), (where, what, problems)
    assert all(p.startswith("tests/powershell_fixtures/") for p in problems)
    # The splat-forwarded parameters count as used; the typo check still runs on the rest.
    assert ps.variable_problems(caller, lists) == []


# A small model of PowerShell's parameter binding, enough to say what the params hashtable holds
# for a set of parameters the user bound: ⟨X⟩ is the value the user gave -X, switch⟨X⟩/bool⟨X⟩ when
# -X is a [switch]/[bool]; an unbound parameter has its default as written, or ⟨unset X⟩.


def _bound_value(f: ps.Function, name: str) -> str:
    p = f.parameter(name)
    assert p is not None
    kind = {"switch": "switch", "bool": "bool"}.get(p.type or "", "")
    return f"{kind}⟨{p.name}⟩"


def _unbound_value(f: ps.Function, name: str) -> str:
    p = f.parameter(name)
    assert p is not None
    if p.default is not None:
        return p.default
    return f"switch⟨unset {p.name}⟩" if p.type == "switch" else f"⟨unset {p.name}⟩"


def _resolve(f: ps.Function, expression: str, env: dict[str, str]) -> str:
    """``expression`` with each of ``f``'s parameters replaced by its value in ``env``."""

    def value(m: re.Match[str]) -> str:
        p = f.parameter(m.group(1))
        if p is None:
            return m.group(0)  # a local ($params, $credentials) or automatic ($PSCmdlet) variable
        resolved = env[p.name.lower()]
        if m.group(2):  # .IsPresent: the boolean of a switch
            assert resolved.startswith("switch⟨"), (f.name, m.group(0), resolved)
            return "bool" + resolved.removeprefix("switch")
        return resolved

    return re.sub(r"\$(\w+)(\.IsPresent)?", value, expression)


def _holds(f: ps.Function, node: tree_sitter.Node, bound: set[str], env: dict[str, str]) -> bool:
    """Whether every `if` around ``node`` in ``f`` is true when ``bound`` are the bound parameters."""
    n = node.parent
    while n is not None and n != f.node:
        if n.type == "if_statement":
            condition = ps.text(f.source, next(c for c in n.children if c.type == "pipeline")).strip()
            contains = re.fullmatch(r"\$PSBoundParameters\.ContainsKey\('(\w+)'\)", condition)
            non_empty = re.fullmatch(r"\$(\w+)\.Count -gt 0", condition)
            if contains:
                if contains.group(1).lower() not in bound:
                    return False
            elif non_empty:
                if not _local_items(f, non_empty.group(1), bound, env):
                    return False
            else:
                raise AssertionError(f"{f.line_of(n)}: the model does not know the condition {condition!r}")
        n = n.parent
    return True


def _local_items(f: ps.Function, var: str, bound: set[str], env: dict[str, str]) -> list[str]:
    """What ``$var += ...`` adds to a local array (``$var = @()``) for these bound parameters."""
    items = []
    for n in ps.walk(f.node):
        if (
            n.type != "assignment_expression"
            or ps.text(f.source, n.children[0]).strip().lower() != f"${var}".lower()
        ):
            continue
        operator = ps.text(f.source, n.children[1]).strip()
        value = ps.text(f.source, n.children[-1]).strip()
        if operator == "=":
            assert value == "@()", (f.line_of(n), value)
        elif _holds(f, n, bound, env):
            items.append(_resolve(f, value, env))
    return items


def _sent(f: ps.Function, keys: list[ps.ParamKey], bound: set[str], env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in keys:
        if not key.unconditional and not _holds(f, key.node, bound, env):
            continue
        local = re.fullmatch(r"\$(\w+)", key.value)
        if local and f.parameter(local.group(1)) is None:
            out[key.key] = _local_items(f, local.group(1), bound, env)
        else:
            out[key.key] = _resolve(f, key.value, env)
    return out


def _inline_params(cmdlet: ps.Function, bound: set[str]) -> dict[str, Any]:
    """What the inline (pre-helper) cmdlet put into its params."""
    env = {
        p.name.lower(): _bound_value(cmdlet, p.name)
        if p.name.lower() in bound
        else _unbound_value(cmdlet, p.name)
        for p in cmdlet.parameters
    }
    (call,) = cmdlet.rpc_calls()
    return _sent(cmdlet, call.keys, bound, env)


def _helper_params(cmdlet: ps.Function, functions: dict[str, ps.Function], bound: set[str]) -> dict[str, Any]:
    """What the cmdlet and Add-BcsJobSetting put into the params: the helper's bound parameters are
    those the cmdlet splats (bound and in the forwarded list) and passes by name."""
    env = {
        p.name.lower(): _bound_value(cmdlet, p.name)
        if p.name.lower() in bound
        else _unbound_value(cmdlet, p.name)
        for p in cmdlet.parameters
    }
    (call,) = cmdlet.rpc_calls(functions)
    out = _sent(cmdlet, [k for k in call.keys if k.owner is None], bound, env)
    ((splat, names, loop),) = ps._forwarding_loops(cmdlet, None)
    loop_text = ps.text(cmdlet.source, loop)
    assert "if ($PSBoundParameters.ContainsKey($name))" in loop_text, loop_text
    assert f"{splat}[$name] = $PSBoundParameters[$name]" in loop_text, loop_text
    helper = functions["Add-BcsJobSetting"]
    (site,) = [n for name, n in cmdlet.commands() if name == helper.name]
    command = site.parent
    assert command is not None and f"@{splat[1:]}" in ps.text(cmdlet.source, command)
    helper_env: dict[str, str] = {}
    helper_bound: set[str] = set()
    for arg, node in ps._command_arguments(cmdlet.source, command).items():
        name = arg.lstrip("-").lower()
        helper_env[name] = _resolve(cmdlet, ps.text(cmdlet.source, node).strip(), env)
        helper_bound.add(name)
    for name in names:
        if name.lower() in bound:
            value = env[name.lower()]
            declared = helper.parameter(name)
            assert declared is not None, name
            if declared.type == "switch":
                value = "switch" + value.removeprefix("bool").removeprefix(
                    "switch"
                )  # $true/$false bind a switch
            helper_env[name.lower()] = value
            helper_bound.add(name.lower())
    for p in helper.parameters:
        helper_env.setdefault(p.name.lower(), _unbound_value(helper, p.name))
    helper_keys = [k for k in call.keys if k.owner is helper]
    out.update(_sent(helper, helper_keys, helper_bound, helper_env))
    return out


def _combinations(names: list[str]) -> list[set[str]]:
    lowered = [n.lower() for n in names]
    return [
        set(),
        set(lowered),
        *({n} for n in lowered),
        *(set(pair) for pair in itertools.combinations(lowered, 2)),
    ]


@pytest.mark.parametrize("name", SHARED_SETTING_CALLERS)
def test_add_bcsjobsetting_sends_what_the_inline_code_sent_for_every_bound_combination(name: str) -> None:
    functions = ps.module_functions()
    (inline,) = ps.functions_in(INLINE / f"{name}.ps1")
    cmdlet = functions[name]
    assert [p.name for p in inline.parameters] == [p.name for p in cmdlet.parameters]
    combinations = _combinations([p.name for p in cmdlet.parameters])
    for bound in combinations:
        before = _inline_params(inline, bound)
        after = _helper_params(cmdlet, functions, bound)
        assert after == before, sorted(bound)
    everything = _helper_params(cmdlet, functions, set(combinations[1]))
    assert everything["credentials"] == [
        "ConvertTo-BcsCredential -Credential ⟨Credential⟩ -Scheme ⟨Authentication⟩ -Target 'Server'",
        "ConvertTo-BcsCredential -Credential ⟨ProxyCredential⟩ -Scheme ⟨ProxyAuthentication⟩ -Target 'Proxy'",
    ]
    assert everything["dynamic"] == "bool⟨Dynamic⟩"
    only_credential = _helper_params(cmdlet, functions, {"credential"})
    assert only_credential["credentials"] == [
        "ConvertTo-BcsCredential -Credential ⟨Credential⟩ -Scheme 'Negotiate' -Target 'Server'"
    ]


def test_set_bcsauthentication_takes_a_pscredential_and_no_password_parameter() -> None:
    """What pester/Parameters.Tests.ps1 asserts of Set-BcsAuthentication, read from the syntax tree
    (PSScriptAnalyzer's AvoidUsingUsernameAndPasswordParams is an error: no -...Password beside
    -LdapBindUser)."""
    f = ps.module_functions()["Set-BcsAuthentication"]
    assert "DefaultParameterSetName='Settings'" in [a.replace(" ", "") for a in f.cmdlet_binding or []]
    credential = f.parameter("LdapCredential")
    assert credential is not None and credential.type == "system.management.automation.pscredential"
    assert [p.name for p in f.parameters if "password" in p.name.lower()] == []

    def sets(name: str) -> list[str | None]:
        p = f.parameter(name)
        assert p is not None
        return [e.set_name for e in p.set_entries]

    assert sets("LdapCredential") == ["DirectoryCredential"]
    assert sets("LdapBindUser") == ["Directory"]
    assert sets("LdapUrl") == ["Directory", "DirectoryCredential"]
    assert sets("RemoveLdap") == ["RemoveDirectory"]
    principal = f.parameter("Principal")
    assert principal is not None and principal.type == "string[]"
