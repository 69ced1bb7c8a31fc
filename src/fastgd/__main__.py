"""``python -m fastgd``: print how fastgd was built and what it runs on."""

import fastgd

if __name__ == "__main__":
    fastgd.show_config()
