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
