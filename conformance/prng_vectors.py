"""Reference PRNG values shipped with the suite (so it works from the wheel).

``JAX_VALUES`` were produced by jax 0.10.2 (threefry2x32, partitionable mode) with the calls named by the keys;
``THREEFRY_KAT`` are the known-answer vectors of Threefry-2x32 with 20 rounds from Random123 (Salmon et al.,
SC 2011), also used by JAX's own tests: ``(key, counter, expected output)``.
"""

THREEFRY_KAT = (
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
)

JAX_VALUES = {
    'PRNGKey(0)': [0, 0],
    'PRNGKey(42)': [0, 42],
    'split(PRNGKey(0))': [[1797259609, 2579123966], [928981903, 3453687069]],
    'split(PRNGKey(0), 3)': [[1797259609, 2579123966], [928981903, 3453687069], [4146024105, 2718843009]],
    'fold_in(PRNGKey(0), 7)': [2716826189, 292468403],
    'bits(PRNGKey(0), (8,), uint32)':
        [4070199207, 4202968722, 1427181096, 2012915765, 2447653815, 710830403, 1332275837, 2961296638],
    'uniform(PRNGKey(0), (8,))':
        [0.9476670026779175, 0.9785798788070679, 0.33229148387908936, 0.46866846084594727, 0.569888710975647,
        0.16550302505493164, 0.31019461154937744, 0.6894805431365967],
    'normal(PRNGKey(0), (10,))':
        [1.622642159461975, 2.0252647399902344, -0.4335944354534149, -0.07861734926700592, 0.17609089612960815,
        -0.9720892310142517, -0.49529874324798584, 0.49437859654426575, 0.6643493175506592, -0.9501634836196899],
    'normal(PRNGKey(1), (2, 3))':
        [[-0.15443718433380127, 0.08470727503299713, -0.135980486869812], [-0.15503625571727753,
        1.266667366027832, 0.14829757809638977]],
    'randint(PRNGKey(0), (6,), 0, 10)': [9, 0, 2, 3, 1, 7],
    'bernoulli(PRNGKey(0), 0.3, (8,))': [False, False, False, False, False, True, False, False],
    'permutation(PRNGKey(0), 8)': [0, 1, 5, 6, 4, 3, 2, 7],
}
