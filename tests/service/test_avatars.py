import xml.etree.ElementTree as ET

from service.avatars import render_avatar


def test_avatar_is_deterministic_svg() -> None:
    svg = render_avatar("0123456789abcdef")
    assert svg == render_avatar("0123456789abcdef")
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"


def test_avatars_differ_between_members() -> None:
    pictures = {render_avatar(f"{i:016x}") for i in range(50)}
    assert len(pictures) == 50
