"""A mistyped WikiArt label gets a short error with the closest names; the full lists come on request."""

from __future__ import annotations

import pytest
import torch

from soundclip_core.errors import SoundClipError
from soundclip_core.generators.labels import load_label_set, parse_label, slug, summary
from soundclip_core.generators.stylegan2 import Generator, GeneratorConfig


def _error(text: str, source: str = "--label") -> str:
    with pytest.raises(SoundClipError) as error:
        parse_label(text, 167, "wikiart", source=source)
    return str(error.value)


ARTISTS = [slug(n) for n in load_label_set("wikiart").blocks[0].names]


@pytest.mark.parametrize("typed, suggested", [("monet", "claude-monet"), ("van gogh", "vincent-van-gogh"),
                                              ("Claud Monet", "claude-monet"), ("rembrant", "rembrandt")])
def test_a_mistyped_artist_gets_the_closest_names_in_a_short_line(typed, suggested):
    message = _error(f"artist={typed}, genre=landscape")
    assert f"unknown artist '{typed}'; closest: {suggested}" in message
    assert "--label 'artist=?'" in message and "129 artist names" in message  # how to see them all
    assert len(message) < 300  # it was 3000 characters: every artist, genre and style
    assert sum(artist in message for artist in ARTISTS) <= 5  # suggestions, not the list


def test_a_short_group_is_listed_whole_and_a_name_from_another_group_is_pointed_to():
    message = _error("genre=cubism")
    assert "unknown genre 'cubism' (it is a style: 'style=cubism')" in message
    assert "these 11 genre names: abstract-painting, cityscape" in message and "claude-monet" not in message
    assert "closest: impressionism, post-impressionism" in _error("style=impresionism")


def test_nothing_close_says_so_without_guessing():
    message = _error("artist=zzzqqq")
    assert "closest" not in message and "list them all with --label 'artist=?'" in message


def test_lists_come_on_request():
    artists = _error("artist=?", source="label")
    assert "label 'artist=?': this generator accepts these 129 artist names" in artists
    assert all(artist in artists for artist in ARTISTS)
    assert "these 11 genre names" in _error("genre=?") and "cubism" not in _error("genre=?")
    everything = _error("?")
    assert all(f"{group}=<" in everything for group in ("artist", "genre", "style")) and "claude-monet" in everything


def test_other_label_errors_carry_the_short_summary():
    for text in ["", "colour=red", "dog", "3:x", "400"]:
        message = _error(text)
        assert "artist=<one of 129>, genre=<one of 11>, style=<one of 27>" in message, message
        assert "--label 'genre=landscape, style=impressionism'" in message and len(message) < 400
    assert summary(10) == "class indices 0-9, e.g. '3' or '3,7'"


def test_a_conditional_generator_asked_for_an_image_without_a_label_says_what_it_takes():
    g = Generator(GeneratorConfig(resolution=8, z_dim=16, w_dim=16, mapping_layers=2, channels=[8, 8], c_dim=167,
                                  label_embedding="concat", embed_dim=16, label_set="wikiart"), source="wikiart.pkl")
    with pytest.raises(SoundClipError, match="wikiart.pkl is class-conditional.*artist=<one of 129>") as error:
        g.mapping(torch.zeros(1, 16))
    assert len(str(error.value)) < 400
