"""The browser's form reading: which fields it fills and which button it presses."""

from __future__ import annotations

from harness.clients.browser import forms_in

DEVICE_FORM = (
    '<form method="post" action="/device"><input name="user_code" value="ABCD-EFGH">'
    '<input name="username"><input name="password" type="password">'
    '<button type="submit" name="approve" value="yes">Approve</button>'
    '<button type="submit" name="approve" value="no">Deny</button></form>'
)


def test_device_form_presses_approve_not_deny() -> None:
    (form,) = forms_in(DEVICE_FORM)
    assert form.submit == {"approve": "yes"}
    assert form.password_field == "password" and form.fields["user_code"] == "ABCD-EFGH"


def test_deny_listed_first_is_still_skipped() -> None:
    swapped = DEVICE_FORM.replace('value="yes">Approve', 'value="tmp">X').replace(
        'value="no">Deny', 'value="yes">Approve').replace('value="tmp">X', 'value="no">Deny')
    (form,) = forms_in(swapped)
    assert form.submit == {"approve": "yes"}


def test_unnamed_submit_sends_no_field() -> None:
    (form,) = forms_in('<form method="post" action="/login"><input name="username">'
                       '<input name="password" type="password"><button type="submit">Sign in</button></form>')
    assert form.submit == {} and form.method == "POST"


def test_consent_form_takes_allow_over_a_neutral_button() -> None:
    (form,) = forms_in('<form method="post"><input type="submit" name="other" value="Details">'
                       '<input type="submit" name="decision" value="Allow"></form>')
    assert form.submit == {"decision": "Allow"}


# oidc-provider 9's device confirmation page: hidden fields in the form, both buttons after it, owned by
# the form through their `form` attribute; Abort says "yes" in its value and refuses in its name
OIDC_PROVIDER_DEVICE_CONFIRM = (
    '<form id="op.deviceConfirmForm" method="post" action="/device">'
    '<input type="hidden" name="xsrf" value="x1"/><input type="hidden" name="user_code" value="WDJB-MJHT"/>'
    '<input type="hidden" name="confirm" value="yes"/></form>'
    '<button autofocus type="submit" form="op.deviceConfirmForm">Continue</button>'
    '<div class="help"><button type="submit" form="op.deviceConfirmForm" value="yes" name="abort">[ Abort ]'
    '</button></div>'
)


def test_a_button_named_abort_is_not_pressed_whatever_its_value() -> None:
    (form,) = forms_in(OIDC_PROVIDER_DEVICE_CONFIRM)
    assert form.fields == {"xsrf": "x1", "user_code": "WDJB-MJHT", "confirm": "yes"}
    assert form.submit == {}  # Continue has no name: submitting sends the hidden fields only


def test_controls_join_the_form_they_name_even_before_it() -> None:
    html = ('<input form="f" name="early" value="1"><form id="f" method="post"></form>'
            '<input form="f" type="submit" name="accept" value="Yes">')
    (form,) = forms_in(html)
    assert form.fields == {"early": "1"} and form.submit == {"accept": "Yes"}


def test_controls_after_a_closed_form_belong_to_no_form() -> None:
    (form,) = forms_in('<form method="post"><input name="a" value="1"></form><input name="search" value="x">'
                       '<button name="approve" value="yes">Go</button>')
    assert form.fields == {"a": "1"} and form.submit == {}


def test_keycloak_style_consent_presses_yes_not_no() -> None:
    (form,) = forms_in('<form method="post" action="/consent"><input type="submit" name="cancel" value="No">'
                       '<input type="submit" name="accept" value="Yes"></form>')
    assert form.submit == {"accept": "Yes"}


def test_script_buttons_send_nothing() -> None:
    (form,) = forms_in('<form method="post"><button type="button" name="show" value="1">Show</button>'
                       '<button name="go" value="Allow">Allow</button></form>')
    assert form.submit == {"go": "Allow"} and form.fields == {}
