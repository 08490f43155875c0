"""An idle `podrun serve` keeps out of its resident modules what only a pod or a write needs.

The pod worker loads with the first pod, the validators of whole objects with the first create or update, the
patch engines with the first PATCH, the kubelet's status code with the first pod status the node writes, and the
resource quantities (with decimal and fractions) with the first quantity parsed or float printed.
Each check runs in a fresh interpreter and looks at `sys.modules` afterwards.
"""

from __future__ import annotations

from fresh_imports import modules_loaded_after

LOADED_ON_FIRST_USE = (
    "podrun.kubelet.worker",
    "podrun.kubelet.status",
    "podrun.kubelet.pod_changes",
    "podrun.model.validation.pod",
    "podrun.model.validation.containers",
    "podrun.model.validation.volumes",
    "podrun.model.validation.updates",
    "podrun.model.validation.warnings",
    "podrun.model.validation.config",
    "podrun.api.patch",
    "podrun.model.quantity",
    "decimal",
    "fractions",
)


def test_the_serve_command_loads_no_pod_worker_validators_or_patch_engines() -> None:
    assert modules_loaded_after("import podrun.cli.main, podrun.cli.serve", LOADED_ON_FIRST_USE) == []


def test_a_validator_looked_up_on_the_validation_package_loads_its_module() -> None:
    loaded = modules_loaded_after(
        """
        from podrun.model.validation import validate_pod

        assert validate_pod.__module__ == "podrun.model.validation.pod"
        """,
        ("podrun.model.validation.pod",),
    )

    assert loaded == ["podrun.model.validation.pod"]


def test_an_unknown_name_on_the_validation_package_is_an_attribute_error() -> None:
    loaded = modules_loaded_after(
        """
        import podrun.model.validation as validation

        try:
            validation.validate_everything
        except AttributeError:
            pass
        else:
            raise AssertionError("no AttributeError")
        """,
        (),
    )

    assert loaded == []


def test_a_float_in_a_field_error_loads_decimal_to_print_it() -> None:
    loaded = modules_loaded_after(
        """
        from podrun.model.errors import FieldError

        assert str(FieldError.invalid("spec.x", 1e-07, "bad")) == "spec.x: Invalid value: 1e-07: bad"
        """,
        ("decimal",),
    )

    assert loaded == ["decimal"]


def test_a_quantity_in_a_field_error_prints_canonically() -> None:
    loaded = modules_loaded_after(
        """
        from podrun.model.errors import FieldError
        from podrun.model.quantity import parse_quantity

        assert str(FieldError.invalid("spec.x", parse_quantity("1.5"), "bad")) == "spec.x: Invalid value: 1500m: bad"
        """,
        ("podrun.model.quantity",),
    )

    assert loaded == ["podrun.model.quantity"]
