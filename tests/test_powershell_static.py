"""Static checks of the PowerShell module (pwsh cannot run here; tree-sitter-pwsh reads the files).

Each check is also run on a deliberately broken file from ``tests/powershell_fixtures`` to show
that it fails when a cmdlet is broken.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
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
    "Remove",
    "Resume",
    "Set",
    "Start",
    "Stop",
    "Suspend",
    "Wait",
}
TYPE_NAMES = {"Bcs.Job", "Bcs.UrlGroup", "Bcs.Url", "Bcs.Server"}


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
                assert name in views, f"{f.name}: no table view for {name}"
    assert set(views) == TYPE_NAMES


def _format_views() -> dict[str, list[str]]:
    tree = ET.parse(ps.ROOT / "BitsCompactServer.Format.ps1xml")
    views: dict[str, list[str]] = {}
    for view in tree.getroot().iter("View"):
        type_name = view.findtext("ViewSelectedBy/TypeName")
        headers = view.findall("TableControl/TableHeaders/TableColumnHeader")
        items = view.findall("TableControl/TableRowEntries/TableRowEntry/TableColumnItems/TableColumnItem")
        assert type_name and len(headers) == len(items), f"view {type_name}: headers and items differ"
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
