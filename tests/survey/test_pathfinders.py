"""The pathfinder catalogue: what it holds, how a target resolves on a grid, extending it."""

import pytest

from geogan.errors import ConfigError
from geogan.survey.pathfinders import catalogue, catalogue_digest, describe, element_of, resolve_target

REQUIRED = ("orogenic-au", "porphyry-cu-mo-au", "w-sn-granite", "ni-cu-pge-sulphide", "lct-pegmatite", "vms", "iocg",
            "sedex-zn-pb")


def test_the_catalogue_holds_the_deposit_types_with_cited_suites():
    cat = catalogue()
    assert set(REQUIRED) <= set(cat.types)
    for key, t in cat.types.items():
        assert t.references, key  # every suite is cited
        assert t.commodities[0] in t.pathfinders, key  # the main commodity is in its own suite
        assert set(t.pathfinders.values()) <= {1, -1}
    # the commodity is its type's first pathfinder where the type has one main commodity
    assert next(iter(cat.types["orogenic-au"].pathfinders)) == "Au"
    assert next(iter(cat.types["lct-pegmatite"].pathfinders)) == "Li"
    # directions that matter: depletions are recorded as such
    assert cat.types["vms"].alteration["Na"] == -1
    # every commodity default names a type of the catalogue
    assert all(k in cat.types for k in cat.commodities.values())
    assert cat.commodities["Au"] == "orogenic-au" and cat.commodities["W"] == "w-sn-granite"


def test_a_target_resolves_to_its_types_suite_present_in_the_grid():
    grid = ["Au", "Ag", "Cu", "Pb", "Zn", "Ni", "Co"]  # GSWA soil1's elements
    spec = resolve_target("Au", None, grid)
    assert spec.deposit_type == "orogenic-au"
    assert spec.suite == ["Au", "Ag", "Pb", "Cu", "Zn"]  # catalogue order, target first
    assert spec.others == ["Ni", "Co"]  # the mafic pair never reaches the detector
    assert spec.target == "Au" and spec.directions == {e: 1 for e in spec.suite}
    # the deposit type alone: its first commodity in the grid is the target
    assert resolve_target(None, "iocg", ["Fe", "Cu", "La", "Zr"]).target == "Cu"
    # an explicit type wins over the commodity's default
    assert resolve_target("Au", "epithermal-au-ag", ["Au", "Hg", "Ni"]).suite == ["Au", "Hg"]


def test_oxides_stand_for_their_elements():
    spec = resolve_target(None, "vms", ["Cu", "Zn", "Na2O", "K2O", "MgO", "SiO2"], alteration=True)
    assert spec.suite == ["Cu", "Zn", "MgO", "K2O", "Na2O"]
    assert spec.directions["Na2O"] == -1 and spec.directions["MgO"] == 1
    assert spec.others == ["SiO2"]
    assert element_of("Fe2O3") == "Fe" and element_of("Au") == "Au"
    # without --alteration the majors stay out of the suite
    assert resolve_target(None, "vms", ["Cu", "Zn", "Na2O"]).suite == ["Cu", "Zn"]


def test_a_target_without_a_type_is_its_own_suite():
    spec = resolve_target("Ga", None, ["Ga", "Al2O3"])
    assert spec.deposit_type is None and spec.suite == ["Ga"] and spec.others == ["Al2O3"]


@pytest.mark.parametrize("target, kind, grid, message", [
    ("Au", None, ["Cu", "Zn"], "target 'Au' is not an element of the grid (Cu, Zn)"),
    (None, "nope", ["Cu"], "unknown deposit type 'nope'"),
    (None, "lct-pegmatite", ["Cu", "Zn"], "the grid holds none of lct-pegmatite's commodities"),
    (None, None, ["Cu"], "give a target element"),
])
def test_bad_targets_are_named(target, kind, grid, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_target(target, kind, grid)


def test_a_users_file_extends_and_overrides_the_catalogue(tmp_path):
    extra = tmp_path / "mine.toml"
    extra.write_text('[commodities]\nAu = "carlin"\n\n'
                     '[types.carlin]\nname = "Carlin-type gold"\ncommodities = ["Au"]\n'
                     'pathfinders = { Au = "+", As = "+", Hg = "+", Tl = "+", Sb = "+" }\n'
                     'references = ["Cline et al. 2005"]\n\n'
                     '[types.vms]\nname = "my VMS"\ncommodities = ["Zn"]\npathfinders = { Zn = "+", Ba = "+" }\n')
    cat = catalogue(extra)
    assert cat.types["carlin"].pathfinders == {"Au": 1, "As": 1, "Hg": 1, "Tl": 1, "Sb": 1}
    assert cat.types["vms"].name == "my VMS"  # same key: the user's type replaces the built-in one
    assert "orogenic-au" in cat.types  # the rest is kept
    spec = resolve_target("Au", None, ["Au", "As", "Tl", "Cu"], catalogue_path=extra)
    assert spec.deposit_type == "carlin" and spec.suite == ["Au", "As", "Tl"]


@pytest.mark.parametrize("body, message", [
    ('[types.x]\ncommodities = ["Au"]\npathfinders = { Au = "up" }\n', 'Au = \'up\'; the direction is "+"'),
    ('[types.x]\ncommodities = ["Au"]\npathfinders = { Xx = "+" }\n', "'Xx' is not an element symbol"),
    ('[types.x]\ncommodities = ["Au"]\npathfinders = { Au = "+" }\ncolour = "red"\n', "unknown key(s) colour"),
    ('[types.x]\npathfinders = { Au = "+" }\n', "commodities must be element symbols"),
    ('[commodities]\nAu = "nowhere"\n', "names no deposit type"),
    ('[types.x]\ncommodities = ["Au"]\npathfinders = { Au = "+" }\nhost = ["granite"]\n',
     "host = ['granite']; a list of 'felsic', 'mafic'"),
    ('[types.x\n', "not a readable TOML catalogue"),
])
def test_a_bad_catalogue_file_is_named(tmp_path, body, message):
    bad = tmp_path / "bad.toml"
    bad.write_text(body)
    with pytest.raises(ConfigError) as exc:
        catalogue(bad)
    assert message in str(exc.value)
    if "names no deposit type" not in message:
        assert str(bad) in str(exc.value)


def test_describe_lists_the_catalogue_or_one_type_in_full():
    # what `geogan pathfinders` prints (the command itself: tests/cli/test_analyse.py)
    listing = describe()
    assert "orogenic-au" in listing and "Au → orogenic-au" in listing
    full = describe("porphyry-cu-mo-au")
    assert "Sillitoe" in full and "Na-" in full
    assert describe("iocg").startswith("iocg: Iron oxide")
    with pytest.raises(ConfigError, match="unknown deposit type 'nope'"):
        describe("nope")


def test_the_catalogue_digest_follows_the_users_file(tmp_path):
    # a pipeline stamps its target-aware tables with it: a changed catalogue retrains them
    mine = tmp_path / "mine.toml"
    mine.write_text('[types.x]\ncommodities = ["Au"]\npathfinders = { Au = "+" }\n')
    first = catalogue_digest(mine)
    assert first != catalogue_digest(None) and catalogue_digest(None) == catalogue_digest(None)
    mine.write_text('[types.x]\ncommodities = ["Au"]\npathfinders = { Au = "+", As = "+" }\n')
    assert catalogue_digest(mine) != first
    with pytest.raises(ConfigError, match="gone.toml: catalogue file not readable"):
        catalogue_digest(tmp_path / "gone.toml")
