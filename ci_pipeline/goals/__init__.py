"""Goals: the initiative's goals (assets/goals.yaml) and the goal_progress mart.

    config.py    goals.yaml: loading and validation, the goals checked against the registry, the goals mart
    series.py    one indicator for one region as a series: statistics (pooled where asked) or survey waves
    rules.py     the status rule, significance-tested comparisons and the trend test
    gaps.py      the gap between the best and the worst bydel, per period
    progress.py  build_goal_progress(): the goal_progress mart
"""
