import numpy as np
import pytest

from amazon_cls.core.labels import LABELS, RARE, WEATHER, UnknownTagError, parse_tags, tags_to_vector, vector_to_tags


def test_vocabulary_is_the_17_competition_labels_once() -> None:
    assert len(LABELS) == len(set(LABELS)) == 17
    assert LABELS[:4] == WEATHER
    assert set(RARE) <= set(LABELS)


def test_tags_are_a_set_and_round_trip() -> None:
    tags = parse_tags("agriculture cultivation cultivation partly_cloudy primary water")
    assert tags == {"agriculture", "cultivation", "partly_cloudy", "primary", "water"}
    vector = tags_to_vector(tags)
    assert vector.sum() == 5
    assert set(vector_to_tags(vector).split()) == tags


def test_unknown_tag_names_row_and_tag() -> None:
    with pytest.raises(UnknownTagError, match=r"train_v2.csv row 7.*'rainforest'"):
        tags_to_vector({"clear", "rainforest"}, where="train_v2.csv row 7")


def test_empty_tags() -> None:
    assert parse_tags(float("nan")) == set()
    assert np.all(tags_to_vector(set()) == 0)
