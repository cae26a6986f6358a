from django.contrib.auth.hashers import PBKDF2PasswordHasher


class FastPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """The production algorithm with few iterations, so factories are fast. The iteration
    count is stored in each hash, so servers the tests start (with the normal hashers)
    still verify these passwords."""

    iterations = 1000
