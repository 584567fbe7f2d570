"""The soak's programme as a script (bench/soak.py): when each thing happens as a fraction of the run,
the staff's texts, and every viewer's and netizen's action drawn from --seed."""

from __future__ import annotations

import argparse
import random

from bench.load import QUESTION_TEMPLATES

# The script of the programme, as fractions of the run.
STARTS = 0.05  # the host starts the programme; before it, pre-collected questions
ASKERS_JOINED = 0.02  # askers open the page first
RAMP = (0.02, 0.15)  # the other viewers join evenly over this span
ASKS_END = 0.95
PRE_SHARE = 0.10  # share of the questions asked before the start
REJOIN = (0.25, 0.85)  # leave times of the viewers who come back
AWAY = (0.01, 0.04)  # how long they stay away
SUPPORTS = (0.10, 0.97)
HOST_MESSAGES = (0.35, 0.65)  # besides the welcome at the start and the closing words at the end
WARMUP = 0.20
# Moderators' decisions: approve and publish, approve only (forward to the guests), reject.
PUBLISH, FORWARD = 0.65, 0.20
REASONS = (
    "与本期主题无关",
    "重复提问，已合并到相近问题",
    "涉及个人隐私，请通过留言板反映",
    "个案问题，请拨打热线",
)

GUESTS = (
    ("张明", "市交通委新闻发言人"),
    ("李华", "市交通委公交处处长"),
    ("王芳", "市交通委轨道交通处处长"),
    ("赵强", "市交通委道路管理处处长"),
)
ANSWER = (
    "感谢这位网友的关注。您反映的问题我们已经注意到，{n}个工作日内会安排相关处室到现场核实，"
    "能当场解决的立即解决，需要协调的我们会在官网公布进度，也欢迎通过留言板继续监督。"
)
HOST_TEXTS = (
    "各位网友下午好，欢迎收看本期《走进直播间》，今天做客直播间的是市交通委的负责同志。",
    "网友提问非常踊跃，嘉宾们正在逐一回答，没有轮到的问题会转到留言板办理。",
    "还有一点时间，请大家抓紧提问，我们尽量多回答几位网友的问题。",
    "本期节目到这里就结束了，感谢各位嘉宾和网友的参与，我们下周四同一时间再见。",
)


def make_plan(args: argparse.Namespace, tag: str) -> dict:
    """Every viewer's and netizen's action with its time in seconds from the start, from --seed."""
    rng = random.Random(args.seed)
    run = args.minutes * 60
    actions: list[tuple] = []
    processes = args.processes
    # Askers first (they have the page open before the start), then the other viewers in a ramp.
    for i in range(args.askers):
        actions.append((run * ASKERS_JOINED * i / max(1, args.askers), "join", i, i % processes, True))
    others = args.viewers - args.askers
    for k in range(others):
        at = run * (RAMP[0] + (RAMP[1] - RAMP[0]) * k / max(1, others))
        i = args.askers + k
        actions.append((at, "join", i, i % processes, False))
    # Some viewers leave and come back with ?after= (not askers: a new connection is a new netizen).
    for i in rng.sample(range(args.askers, args.viewers), round(others * args.rejoin)):
        leave = run * rng.uniform(*REJOIN)
        back = leave + max(1.0, run * rng.uniform(*AWAY))
        actions.append((leave, "leave", i, back))
    # Questions: each asker asks in turn (spread evenly over the askers), at random times.
    total = args.askers * args.questions_per_asker
    pre = round(total * PRE_SHARE)
    times = sorted(rng.uniform(run * ASKERS_JOINED + 0.5, run * STARTS - 0.5) for _ in range(pre))
    times += sorted(rng.uniform(run * STARTS + 0.5, run * ASKS_END) for _ in range(total - pre))
    askers = [i % args.askers for i in range(total)]
    rng.shuffle(askers)
    templates = QUESTION_TEMPLATES
    for k, (at, asker) in enumerate(zip(times, askers, strict=True)):
        text = templates[k % len(templates)].format(n=k % 89 + 2)
        actions.append((at, "ask", asker, f"{tag}-q{k}", text, f"网友{asker:03d}"))
    # 附议: three supports per question, by random viewers, for recently published questions.
    for _ in range(total * 3):
        actions.append((run * rng.uniform(*SUPPORTS), "support"))
    return {"seed": args.seed, "actions": actions, "questions": total}


def phase_at(t: float, run: float) -> str:
    if t < run * STARTS:
        return "pre"
    if t < run * RAMP[1]:
        return "ramp"
    if t < run * WARMUP:
        return "warm-up"
    return "live"
