"""The link form's dial-in presets in Core's admin application, in headless Chromium.

The module is installed from the source tree into a rig PBX (no worker needed: the presets
are the form's business). For every preset the form shows exactly that preset's fields,
labels and help line; a bad meeting ID shows the preset's own error and nothing is saved
(also when the page's checks are bypassed and the save is posted as is); a good one shows
under "Will be sent as:" exactly what `php bin/conflink-preset.php` (the one builder) prints,
and that is what the saved row holds and the reopened form shows.

Expected fields, labels and texts come from Lib/DtmfPresets.php and Messages/*.php, read
through PHP, never copied here.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pbx
import pytest
from adminsite import MODULE_URL, AdminSite
from chromium import REPO, Browser
from rig import Rig

NUMBER = "84957776675"


def php_json(code: str) -> Any:
    out = subprocess.run(
        ["php", "-r", f"require '{REPO}/bin/conflink-autoload.php'; echo json_encode({code});"],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


EN: dict[str, str] = php_json(f"require '{REPO}/Messages/en.php'")
# preset => {field: [required, min, max]}, in dropdown order.
# (custom has none: PHP's empty array arrives as a list).
PRESETS: dict[str, dict[str, Any]] = {
    name: dict(fields or {})
    for name, fields in php_json("Modules\\ModuleConferenceLink\\Lib\\DtmfPresets::PRESETS").items()
}


def builder(preset: str, **fields: str) -> str:
    """What the one builder makes of these fields (bin/conflink-preset.php)."""
    out = subprocess.run(
        ["php", str(REPO / "bin" / "conflink-preset.php"), preset, *[f"{k}={v}" for k, v in fields.items()]],
        capture_output=True, text=True, check=True,
    )
    return out.stdout.rstrip("\n")


def page_until(page: Any, what: str, check: Any, timeout: float = 15.0) -> Any:
    waited = 0.0
    last = None
    while waited < timeout:
        last = check()
        if last:
            return last
        page.wait_for_timeout(100)
        waited += 0.1
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def choose(page: Any, select_name: str, text: str, exact: bool = True) -> None:
    """Pick an option of a Fomantic dropdown as a user does: open it, click the item."""
    dropdown = page.locator(f'.ui.dropdown:has(select[name="{select_name}"])')
    dropdown.click()
    has_text = re.compile(f"^{re.escape(text)}$") if exact else text
    dropdown.locator(".menu .item", has_text=has_text).first.click()


def visible_texts(page: Any, selector: str) -> list[str]:
    return [str(t).strip() for t in page.locator(selector).evaluate_all(
        "els => els.filter(e => e.offsetParent !== null).map(e => e.innerText)")]


def visible_fields(page: Any) -> list[str]:
    return list(page.locator(".conflink-preset-field").evaluate_all(
        "els => els.filter(e => e.offsetParent !== null).map(e => e.dataset.field)"))


def preview(page: Any) -> str:
    return str(page.locator("#conflink-dtmf-preview-line").inner_text()).strip()


def links(rig: Rig) -> list[dict[str, Any]]:
    rows = rig.php_json(
        "return Modules\\ModuleConferenceLink\\Models\\ConferenceLinks::find(['order' => 'id'])->toArray();"
    )
    assert isinstance(rows, list)
    return rows


@pytest.fixture(scope="module")
def site(rig_root: str) -> Iterator[tuple[Rig, AdminSite, dict[str, str], str]]:
    rig = Rig.open(name="presets")
    try:
        pbx.copy_tree(rig)
        pbx.install_tree(rig)
        room, provider = pbx.add_room_and_provider(rig)
        pbx.enable(rig)
        with AdminSite(rig) as admin:
            yield rig, admin, room, provider
    finally:
        rig.close()


def open_form(browser: Browser, admin: AdminSite, path: str = f"{MODULE_URL}/modify") -> Any:
    page = browser.page(locale="en-US", cookies=[{"name": "refreshToken", "value": admin.refresh_token}],
                        base_url=admin.base_url)
    page.goto(path)
    page.wait_for_load_state("networkidle")
    return page


def test_each_preset_shows_its_fields_checks_them_and_saves_what_the_builder_builds(site: Any) -> None:
    rig, admin, room, _provider = site
    with Browser(admin.base_url) as browser:
        page = open_form(browser, admin)
        # A new link starts as a custom sequence; empty, the preview says what that means.
        assert page.locator('select[name="preset"]').input_value() == "custom"
        assert preview(page) == f"{EN['module_conflink_dtmf_preview']} {EN['module_conflink_dtmf_preview_empty']}"
        # The far-end settings start collapsed.
        assert not page.locator("#prompt_silence").is_visible()

        for preset, fields in PRESETS.items():
            choose(page, "preset", EN[f"module_conflink_preset_{preset}"])
            want = list(fields)
            assert visible_fields(page) == want, preset
            optional = f" ({EN['module_conflink_preset_field_optional']})"
            assert visible_texts(page, ".conflink-preset-label") == [
                EN[f"module_conflink_{preset}_{f}"] + ("" if spec[0] else optional) for f, spec in fields.items()
            ], preset
            assert visible_texts(page, ".conflink-preset-help") == [EN[f"module_conflink_preset_{preset}_help"]]
            assert page.locator("#dtmf").is_visible() == (preset == "custom"), preset

        # A bad meeting ID: the preset's own error under the field, the save never leaves the page.
        choose(page, "conference_uniqid", room["extension"], exact=False)
        choose(page, "provider_uniqid", pbx.PROVIDER["description"], exact=False)
        page.fill("#dst_number", NUMBER)
        choose(page, "preset", EN["module_conflink_preset_zoom"])
        page.fill("#meeting_id", "12a")
        assert preview(page).endswith(EN["module_conflink_dtmf_preview_invalid"])
        page.click("#submitbutton")
        field = page.locator(".field:has(#meeting_id)")
        page_until(page, "the meeting ID error", lambda: "error" in (field.get_attribute("class") or ""))
        # Core's Form lists the prompts in the form's error message.
        page_until(page, "the error text", lambda: EN["module_conflink_error_zoom_meeting_id_format"]
                   in page.locator("#conflink-form .ui.error.message").inner_text())
        assert links(rig) == [], "a bad meeting ID was saved"

        # The server says the same when the page's checks are bypassed (posted as is).
        reply = page.evaluate(
            """async (url) => {
                const body = new URLSearchParams(Object.assign(
                    ConferenceLinkRules.prepare($('#conflink-form').form('get values')), {id: ''}));
                const r = await fetch(url, {method: 'POST', body,
                    headers: {'X-Requested-With': 'XMLHttpRequest'}});
                return r.json();
            }""",
            f"{admin.base_url}{MODULE_URL}/save",
        )
        assert reply["success"] is False, reply
        assert reply["messages"]["error"]["meeting_id"] == EN["module_conflink_error_zoom_meeting_id_format"], reply
        assert links(rig) == [], "the server saved a bad meeting ID"

        # Good fields: the preview is the builder's sequence, and so is the saved row.
        page.fill("#meeting_id", "123 4567 8901")
        page.fill("#participant_id", "")
        page.fill("#passcode", "4321")
        sequence = builder("zoom", meeting_id="12345678901", passcode="4321")
        shown = f"{EN['module_conflink_dtmf_preview']} {sequence}"
        page_until(page, "the built sequence", lambda: preview(page) == shown)
        _shot(page, "link-preset-en", ".two.fields:has(#preset)", "#conflink-dtmf-preview-line")
        page.click("#submitbutton")
        page.wait_for_url(re.compile(r".*/modify/\d+$"), timeout=20000)
        rows = links(rig)
        assert len(rows) == 1, rows
        row = rows[0]
        assert (row["preset"], row["meeting_id"], row["participant_id"], row["passcode"], row["dtmf"]) == (
            "zoom", "12345678901", "", "4321", sequence), row
        page.context.close()

        # Reopened, the form shows the saved preset, its fields and the same sequence.
        page = open_form(browser, admin, f"{MODULE_URL}/modify/{row['id']}")
        assert page.locator('select[name="preset"]').input_value() == "zoom"
        assert visible_fields(page) == list(PRESETS["zoom"])
        assert page.locator("#meeting_id").input_value() == "12345678901"
        assert preview(page) == f"{EN['module_conflink_dtmf_preview']} {sequence}"
        page.context.close()
        problems = browser.problems()
    php = admin.php_problems()
    assert not php, "PHP logged while serving the pages:\n" + "\n".join(php)
    assert not problems, "the browser reported:\n" + "\n".join(problems)


def test_dial_through_the_pbx_routes_needs_no_provider(site: Any) -> None:
    """"Dial through": this provider (the default; a provider is required) or the PBX's outgoing
    routes (no provider: the field goes away, the row keeps none)."""
    rig, admin, room, _provider = site
    before = len(links(rig))
    with Browser(admin.base_url) as browser:
        page = open_form(browser, admin)
        select = page.locator('select[name="dial_via"]')
        assert select.input_value() == "provider"
        options = [str(t).strip() for t in select.locator("option").all_inner_texts()]
        assert options == [EN["module_conflink_dial_via_provider"], EN["module_conflink_dial_via_routes"]]
        provider_field = page.locator("#conflink-provider-field")
        assert provider_field.is_visible() and "required" in (provider_field.get_attribute("class") or "")

        # Through a provider, none chosen: the page names the field, nothing is saved.
        choose(page, "conference_uniqid", room["extension"], exact=False)
        page.fill("#dst_number", "74951234567")
        page.click("#submitbutton")
        page_until(page, "the provider error", lambda: "error" in (provider_field.get_attribute("class") or ""))
        page_until(page, "the error text", lambda: EN["module_conflink_error_provider_required"]
                   in page.locator("#conflink-form .ui.error.message").inner_text())
        assert len(links(rig)) == before

        # Through the PBX's routes: the provider field goes, the link saves without one.
        choose(page, "dial_via", EN["module_conflink_dial_via_routes"])
        page_until(page, "the provider field hidden", lambda: not provider_field.is_visible())
        assert EN["module_conflink_error_provider_required"] not in page.locator("#conflink-form").inner_text()
        _shot(page)
        page.click("#submitbutton")
        # (a save refused by the model, e.g. '' in a NOT NULL column, would stay on this URL)
        page.wait_for_url(re.compile(r".*/modify/\d+$"), timeout=20000)
        rows = links(rig)
        assert len(rows) == before + 1, rows
        row = rows[-1]
        assert (row["dial_via"], row["provider_uniqid"], row["dst_number"]) == ("routes", "", "74951234567"), row
        page.context.close()

        # Reopened: routes chosen, no provider field.
        page = open_form(browser, admin, f"{MODULE_URL}/modify/{row['id']}")
        assert page.locator('select[name="dial_via"]').input_value() == "routes"
        assert not page.locator("#conflink-provider-field").is_visible()
        page.context.close()
        problems = browser.problems()
    php = admin.php_problems()
    assert not php, "PHP logged while serving the pages:\n" + "\n".join(php)
    assert not problems, "the browser reported:\n" + "\n".join(problems)


def _shot(page: Any, name: str = "link-form-en", top: str = "#conflink-form",
          bottom: str = ".field:has(#dst_number)") -> None:
    """A README screenshot of a part of the link form, from `top` to `bottom` (refreshed in
    docs/ui only with CONFLINK_UI_SHOTS=1, as test_admin_pages.py's)."""
    import os
    import shutil

    from chromium import ARTIFACTS

    # after the dropdown's closing animation
    menus = "#conflink-form .ui.dropdown .menu.visible, #conflink-form .ui.dropdown .menu.animating"
    page_until(page, "the dropdown closed", lambda: page.locator(menus).count() == 0)
    # At the page's top the admin's fixed top bar stays at the top of a full-page shot, out of the clip.
    page.evaluate("window.scrollTo(0, 0)")
    first = page.locator(top).first.bounding_box()
    last = page.locator(bottom).first.bounding_box()
    assert first is not None and last is not None
    scroll = page.evaluate("[window.scrollX, window.scrollY]")  # boxes are in the viewport; clips in the page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True,
                    clip={"x": first["x"] + scroll[0], "y": first["y"] + scroll[1], "width": first["width"],
                          "height": last["y"] + last["height"] - first["y"]})
    if os.environ.get("CONFLINK_UI_SHOTS") == "1":
        (REPO / "docs" / "ui").mkdir(parents=True, exist_ok=True)
        shutil.copy2(shot, REPO / "docs" / "ui" / f"{name}.png")
