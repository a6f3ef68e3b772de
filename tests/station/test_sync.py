"""How often a station asks: the server's intervals, faster while a
declared downtime's final set is not all there."""

import pytest
from downtime_station.config import State, server_url
from downtime_station.sync import next_wait

INTERVALS = {"check": 120, "sync": 120, "downtime": 30}


def waits(state: State) -> list[float]:
    return [next_wait(state) for _ in range(200)]


def test_a_station_asks_at_the_check_interval_with_a_tenth_of_jitter():
    found = waits(State(intervals=INTERVALS))
    assert 108 <= min(found) < max(found) <= 132


def test_during_a_downtime_it_asks_every_30_s_until_the_final_set_is_complete():
    declared = {"state": "downtime", "final_set": {"complete": False}}
    assert max(waits(State(intervals=INTERVALS, downtime=declared))) <= 33

    complete = {"state": "downtime", "final_set": {"complete": True}}
    assert min(waits(State(intervals=INTERVALS, downtime=complete))) >= 108
    recovery = {"state": "recovery", "final_set": {"complete": False}}
    assert min(waits(State(intervals=INTERVALS, downtime=recovery))) >= 108


def test_the_server_is_https_or_this_machine():
    assert server_url("https://downtime.hospital.example/") == (
        "https://downtime.hospital.example"
    )
    assert server_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert server_url("http://[::1]:8000") == "http://[::1]:8000"


@pytest.mark.parametrize(
    "refused", ["http://downtime.hospital.example", "ftp://host", "downtime"]
)
def test_the_token_never_crosses_a_network_in_the_clear(refused):
    with pytest.raises(ValueError, match=r"https|URL"):
        server_url(refused)
