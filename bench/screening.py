"""Screening throughput: the project's screener against a naive loop of `in` tests.

    .venv/bin/python -m bench.screening [--questions 100000] [--words 10000] [--seed 1]
        [--sample 2000] [--repeat 3] [--pin]

Generates (deterministically, from --seed) a banned-word list of Chinese 2–4 character words, half
on the block level and half on the review level, and a set of realistic citizens' questions
(buses, metro, medical insurance, social security, housing, heating, school districts, parking,
waste sorting, noise…, 20–120 characters). About 2% carry a banned word, many of them disguised
(spaces, punctuation or zero-width characters between the characters, full-width letters,
traditional characters), and a few per cent carry a phone number, ID number or e-mail address.

Then it times, on one core (everything here is single-threaded; with --pin, on Linux, the process
is also kept on one CPU):

* the full screener, `screen(text, matcher)`: normalise, one automaton pass, personal-data regexes;
* `normalize(text)` alone;
* `matcher.match(normalized)` alone (the Aho–Corasick pass over pre-normalised text);
* the personal-data regexes alone;
* the naive baseline, `[w for w in words if w in normalized]` over the normalised words, on a
  sample of the questions (it is much slower), extrapolated to questions per second.

It also checks that the automaton and the naive baseline find exactly the same banned words, at
the same levels, on every question of the sample, and stops with an error if they do not.

No database and no Django settings are needed: moderation.screening imports Django only inside
current_matcher(), which the benchmark does not use.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata

import opencc

from moderation.screening import BLOCK, REVIEW, WordMatcher, find_personal_data, normalize, screen

TARGET_PER_SECOND = 20_000

# Row labels (the smoke test looks for them).
FULL = "screen() – full screener"
NORMALIZE = "normalize() alone"
AUTOMATON = "automaton match alone"
PERSONAL = "personal-data regexes alone"
NAIVE = "naive `in` loop (sampled)"
ROWS = (FULL, NORMALIZE, AUTOMATON, PERSONAL, NAIVE)

# --- the banned words --------------------------------------------------------------------------

# Real-looking terms of the kind a portal's lists hold: advertising for fraud, gambling, drugs and
# weapons blocks; words that a moderator should see before publication go to review.
SENSITIVE_BLOCK = (
    "代开发票 办假证 假文凭 枪支弹药 仿真枪 六合彩 私彩 赌球 网赌 博彩 冰毒 摇头丸 "
    "大麻 迷药 代孕 裸聊 刷单返利 信用卡套现 高利贷 裸贷 洗钱 传销 非法集资 窃听器 "
    "针孔摄像 考试答案 替考 加vx vx返利 加qq领红包 qq代刷 黑客接单 开房记录 "
    "卖银行卡 收购银行卡 办理资质"
).split()
SENSITIVE_REVIEW = (
    "上访 维权 集体上访 群体事件 罢工 拉横幅 强拆 拆迁补偿 贪污 受贿 行贿 保护伞 "
    "黑恶势力 暴力执法 打人 不作为 乱收费 克扣工资 拖欠工资 讨薪 跳楼 自杀 投诉无门 "
    "曝光 媒体 举报信 领导批示 关系户"
).split()

# A few hundred common characters the generated words are drawn from (they overlap the questions'
# own characters, so the automaton meets many partial matches, as it does with real lists).
COMMON = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子"
    "说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机"
    "当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心"
    "反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程"
    "展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期"
    "根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志"
    "世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每"
    "目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律"
    "叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感"
    "劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片"
)

# --- the questions ------------------------------------------------------------------------------

DISTRICTS = (
    "东城区 西城区 朝阳区 海淀区 丰台区 石景山区 通州区 昌平区 大兴区 顺义区 房山区 "
    "门头沟区 怀柔区 平谷区 密云区 延庆区 滨江区 高新区 经开区 江北区"
).split()
ROADS = (
    "建设路 人民路 解放路 中山路 和平街 长安街 学院路 光明路 新华路 胜利路 东风路 "
    "文化路 幸福路 青年路 工业大道 滨河路 团结路 北环路 南环路 育才路 花园路 "
    "桥西大街 振兴路 金融街 科技园路 迎宾大道"
).split()
ESTATE_NAMES = "阳光 金色 翠湖 华府 锦绣 丽景 康乐 和谐 怡景 紫荆 碧水 枫林 书香 万科 绿地 龙湖".split()
ESTATE_KINDS = ("花园", "小区", "家园", "苑", "新村", "嘉园", "公寓")
SCHOOLS = ("实验小学", "第一小学", "第二中学", "育英学校", "师范附小", "外国语学校", "第十五中学", "光明小学")
STATIONS = "火车站 体育中心 市政府 人民广场 大学城 会展中心 科技馆 西客站 中心医院 万达广场".split()
EXITS = ("A", "B", "C", "D")

OPENERS = (
    "",
    "",
    "",
    "您好，",
    "领导好，",
    "请问",
    "你好！",
    "主持人好，我想问一下，",
    "各位领导好，",
    "我想反映个问题，",
)
CLOSERS = (
    "",
    "",
    "谢谢！",
    "希望尽快答复。",
    "麻烦帮忙协调一下。",
    "期待回复，谢谢。",
    "这个问题反映很久了。",
    "盼复。",
)
EXTRA_CLAUSES = (
    "附近很多老人和孩子都受影响。",
    "之前打过12345热线，说已经转给相关部门了。",
    "周边居民意见很大。",
    "物业说他们也没有办法。",
    "希望相关部门能来现场看一看。",
    "我们已经联名反映过一次。",
    "不知道该找哪个部门。",
    "网上也查不到相关政策。",
)

TEMPLATES = (
    "{district}{road}的{bus}路公交车为什么经常晚点，早高峰要等{n}分钟以上，能不能增加班次？",
    "地铁{metro}号线{station}站{exit}出口什么时候能修好？已经围挡了{n}个月了。",
    "我在{district}工作，医保卡是外地办的，异地就医报销比例是多少？需要先备案吗？",
    "灵活就业人员的社保断缴了{n}个月，还能补缴吗？对以后退休有什么影响？",
    "{estate}的公租房申请已经提交{n}个月了，一直没有审核结果，请问进度在哪里查？",
    "{estate}今年的供暖温度一直不到{temp}度，物业说是热力公司的问题，到底该找谁？",
    "孩子明年上小学，我家住在{district}{estate}，属于哪个学区？{school}的划片范围今年会调整吗？",
    "{road}两侧的停车位晚上全被占满，违停很严重，能不能规划一些临时停车位？",
    "{estate}的垃圾分类桶只在早上开放，上班族根本赶不上，能否延长投放时间？",
    "{road}附近的工地晚上{hour}点以后还在施工，噪音太大，投诉了好几次都没人管。",
    "公积金贷款额度怎么算？我和爱人都缴了{n}年，想在{district}买一套{area}平米的房子。",
    "{district}的老旧小区改造什么时候轮到{estate}？楼道灯坏了{n}个月没人修。",
    "新能源车在{district}的公共充电桩收费标准是什么？{estate}能装私人充电桩吗？",
    "社区医院的家庭医生签约怎么办理？家里老人{age}岁了，行动不便，能上门服务吗？",
    "{bus}路公交改线以后{road}站取消了，附近居民出行很不方便，能不能恢复？",
    "独生子女父母奖励金在哪里申领？我是{district}户籍，退休{n}年了。",
    "多校划片以后{school}还按户籍时间排序吗？我们{year}年落户的。",
    "夜里{road}的路灯不亮，{estate}门口很黑，老人晚上出门不安全。",
    "暑期托管班什么时候开始报名？{school}今年有没有名额？",
    "{district}的生育津贴怎么申领，需要准备哪些材料？",
    "{estate}楼下的广场舞音响每天放到晚上{hour}点，噪音扰民，能不能管一管？",
    "地铁{metro}号线的末班车能不能延长到晚上{hour}点？下夜班的人很多。",
    "住房租赁补贴的申请条件是什么？我在{district}租房{n}年了，月收入{income}元。",
    "{road}和{road2}交叉口的红绿灯时间太短，行人过马路来不及。",
    "医保门诊统筹的起付线是多少？今年在{district}的社区医院看病花了{money}元。",
    "{estate}的二次供水水质发黄，已经{n}天了，物业一直推脱。",
    "垃圾清运车每天早上{hour2}点就在{road}作业，声音很大，能否调整时间？",
    "退休人员的社保卡丢了，在{district}哪里可以补办？需要本人去吗？",
    "{school}门口上下学时段停车太乱，能否设置临时停车区？",
    "共有产权房的摇号结果什么时候公布？我们家{n}口人，在{district}排了很久。",
)


def _estate(rng: random.Random) -> str:
    return rng.choice(ESTATE_NAMES) + rng.choice(ESTATE_KINDS)


def _fill(template: str, rng: random.Random) -> str:
    road, road2 = rng.sample(ROADS, 2)
    return template.format(
        district=rng.choice(DISTRICTS),
        road=road,
        road2=road2,
        estate=_estate(rng),
        school=rng.choice(SCHOOLS),
        station=rng.choice(STATIONS),
        exit=rng.choice(EXITS),
        bus=rng.randint(1, 999),
        metro=rng.randint(1, 16),
        n=rng.randint(2, 18),
        temp=rng.randint(14, 17),
        hour=rng.choice((10, 11, 12)),
        hour2=rng.choice((4, 5, 6)),
        area=rng.choice((60, 75, 89, 90, 110, 120, 144)),
        age=rng.randint(65, 95),
        year=rng.randint(2015, 2025),
        income=rng.randrange(2000, 9000, 100),
        money=rng.randrange(300, 8000, 10),
    )


def _mobile(rng: random.Random) -> str:
    digits = f"1{rng.choice('3456789')}{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}"
    style = rng.random()
    if style < 0.2:
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if style < 0.3:
        return "+86 " + digits
    return digits


def _id_number(rng: random.Random) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    body = (
        f"{rng.randint(110_000, 659_999)}{rng.randint(1950, 2005)}"
        f"{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    )
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def _contact(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.6:
        return rng.choice(("我的电话是", "联系电话：", "可以打我电话", "手机")) + _mobile(rng) + "。"
    if roll < 0.8:
        return f"座机0{rng.randint(10, 999)}-{rng.randint(2_000_000, 89_999_999)}。"
    if roll < 0.9:
        return "身份证号" + _id_number(rng) + "。"
    return f"邮箱zhang{rng.randint(1, 9999)}@example.com。"


_FULL_WIDTH = {code: code + 0xFEE0 for code in range(0x21, 0x7F)}
_to_traditional = opencc.OpenCC("s2t")


def _disguise(word: str, rng: random.Random) -> str:
    """How a banned word appears in a question: plain most of the time, otherwise an evasion."""
    roll = rng.random()
    if roll < 0.45:
        return word
    if roll < 0.6:
        return " ".join(word)
    if roll < 0.7:
        return rng.choice(("*", "-", "·", "、", "…")).join(word)
    if roll < 0.8:
        return "\u200b".join(word)
    if roll < 0.9 and any(ch.isascii() for ch in word):
        return word.upper().translate(_FULL_WIDTH)
    return _to_traditional.convert(word)


BANNED_SENTENCES = (
    "{estate}门口总有人贴小广告，上面写着“{word}”，能不能管一管？",
    "网上看到{word}的广告，说是{district}的，这是不是诈骗？",
    "{road}的电线杆上全是{word}的牌子，",
    "有人在{estate}群里发{word}的消息，",
    "听说{district}有{word}的情况，",
    "{word}",
)


def make_questions(
    count: int, banned: Sequence[str], rng: random.Random
) -> tuple[list[str], list[str | None]]:
    """`count` questions of 20–120 characters, and for each the banned word planted in it (or None)."""
    questions: list[str] = []
    planted: list[str | None] = []
    for _ in range(count):
        target = rng.randint(20, 120)
        text = rng.choice(OPENERS) + _fill(rng.choice(TEMPLATES), rng)
        word = None
        if banned and rng.random() < 0.02:
            word = rng.choice(banned)
            shown = _disguise(word, rng)
            sentence = _fill(rng.choice(BANNED_SENTENCES).replace("{word}", "{{word}}"), rng).format(
                word=shown
            )
            if len(text) + len(sentence) > 120:
                sentence = shown
            text = sentence + text if rng.random() < 0.5 else text + sentence
        if rng.random() < 0.04:
            contact = _contact(rng)
            if len(text) + len(contact) <= 120:
                text += contact
        for clause in [*rng.sample(EXTRA_CLAUSES, 3), rng.choice(CLOSERS)]:
            if len(text) >= target:
                break
            if len(text) + len(clause) <= 120:
                text += clause
        while len(text) < 20:
            text += rng.choice(EXTRA_CLAUSES)
        if len(text) > 120:
            raise RuntimeError(f"generated a question of {len(text)} characters: {text!r}")
        questions.append(text)
        planted.append(word)
    return questions, planted


def _ngrams(texts: Sequence[str], sizes: Sequence[int] = (2, 3, 4)) -> set[str]:
    grams: set[str] = set()
    for text in texts:
        for size in sizes:
            grams.update(text[i : i + size] for i in range(len(text) - size + 1))
    return grams


def make_words(count: int, rng: random.Random) -> list[tuple[str, str]]:
    """`count` distinct banned words: the real-looking terms first, then generated 2–4 character words.

    Generated words that occur in ordinary questions are dropped (a list that blocks "公交车" would
    block half the portal); that keeps the share of questions with a banned word near the 2% the
    generator puts in on purpose.
    """
    words: list[tuple[str, str]] = []
    seen: set[str] = set()
    curated = [(w, BLOCK) for w in SENSITIVE_BLOCK] + [(w, REVIEW) for w in SENSITIVE_REVIEW]
    rng.shuffle(curated)
    for word, level in curated[:count]:
        words.append((word, level))
        seen.add(normalize(word))
    # What ordinary questions look like, normalised: every template filled a few times, and the rest.
    pilot = [_fill(t, rng) for t in TEMPLATES for _ in range(40)]
    pilot += [_fill(t.replace("{word}", ""), rng) for t in BANNED_SENTENCES for _ in range(40)]
    pilot += [*OPENERS, *CLOSERS, *EXTRA_CLAUSES, *DISTRICTS, *ROADS, *SCHOOLS, *STATIONS]
    common_grams = _ngrams([normalize(text) for text in pilot])
    levels = (BLOCK, REVIEW)
    while len(words) < count:
        size = rng.choices((2, 3, 4), weights=(15, 40, 45))[0]
        word = "".join(rng.choice(COMMON) for _ in range(size))
        key = normalize(word)
        if key in seen or key in common_grams:
            continue
        seen.add(key)
        words.append((word, levels[len(words) % 2]))
    return words


# --- timing ---------------------------------------------------------------------------------------


@dataclass
class Row:
    method: str
    questions: int
    seconds: float
    cpu_seconds: float
    extrapolated: bool = False

    @property
    def per_second(self) -> float:
        return self.questions / self.seconds if self.seconds else float("inf")

    @property
    def micros(self) -> float:
        return self.seconds / self.questions * 1e6


@dataclass
class Result:
    rows: list[Row] = field(default_factory=list)
    agreed: int = 0
    sample: int = 0
    target_met: bool = False


def _time(method: str, items: Sequence[str], work: Callable[[str], object], repeat: int) -> Row:
    """The best (shortest wall-clock) of `repeat` passes of `work` over `items`."""
    best: Row | None = None
    for _ in range(repeat):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for item in items:
            work(item)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if best is None or wall < best.seconds:
            best = Row(method, len(items), wall, cpu)
    assert best is not None
    return best


@contextmanager
def _one_cpu(pin: bool) -> Iterator[str]:
    """With `pin`, keep the process on one CPU for the run (where the OS allows), then give the others back.

    Everything timed here is single-threaded, so it uses one core either way; pinning only stops the
    scheduler moving it, and on a busy machine a pinned process may wait for its CPU instead.
    """
    if not pin:
        yield "single-threaded: one core at a time (not pinned; --pin keeps it on one CPU)"
        return
    if not hasattr(os, "sched_setaffinity"):
        yield "single-threaded: one core at a time (--pin: no sched_setaffinity on this OS)"
        return
    allowed = os.sched_getaffinity(0)
    cpu = min(allowed)
    os.sched_setaffinity(0, {cpu})
    try:
        yield f"single-threaded, pinned to CPU {cpu}"
    finally:
        os.sched_setaffinity(0, allowed)


def _machine() -> list[str]:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next(
                (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), ""
            )
    except OSError:
        pass
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("pyahocorasick", "opencc"))
    return [
        f"python   {platform.python_implementation()} {platform.python_version()}",
        f"machine  {platform.platform()}, {os.cpu_count()} CPUs{', ' + model if model else ''}",
        f"libs     {versions}",
        *(
            [f"load     {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min) at the start"]
            if hasattr(os, "getloadavg")
            else []
        ),
    ]


def run(
    questions_count: int, words_count: int, seed: int, sample: int, repeat: int, pin: bool = False
) -> Result:
    with _one_cpu(pin) as pinning:
        return _run(pinning, questions_count, words_count, seed, sample, repeat)


def _run(pinning: str, questions_count: int, words_count: int, seed: int, sample: int, repeat: int) -> Result:
    print("Screening benchmark (bench/screening.py)")
    for line in _machine():
        print(line)
    print(f"cores    {pinning}")

    rng = random.Random(seed)
    started = time.perf_counter()
    words = make_words(words_count, rng)
    matcher = WordMatcher(words)
    # The naive baseline's list: the same normalised words, with the same rule (block wins).
    naive_levels: dict[str, str] = {}
    for word, level in words:
        key = normalize(word)
        if key and (key not in naive_levels or level == BLOCK):
            naive_levels[key] = level
    naive_words = list(naive_levels)
    questions, planted = make_questions(questions_count, [w for w, _ in words], rng)
    normalized = [normalize(q) for q in questions]
    _print_data(seed, words, questions, planted, normalized, matcher, started)
    sample = min(sample, len(questions))
    agreed = _check_agreement(normalized[:sample], matcher, naive_levels)
    gc.collect()
    rows = [
        _time(FULL, questions, lambda text: screen(text, matcher), repeat),
        _time(NORMALIZE, questions, normalize, repeat),
        _time(AUTOMATON, normalized, matcher.match, repeat),
        _time(PERSONAL, questions, find_personal_data, repeat),
        _time(NAIVE, normalized[:sample], lambda text: [w for w in naive_words if w in text], 1),
    ]
    rows[-1].extrapolated = True
    met = _print_results(rows, repeat, sample)
    return Result(rows=rows, agreed=agreed, sample=sample, target_met=met)


def _print_data(
    seed: int,
    words: list[tuple[str, str]],
    questions: list[str],
    planted: list[str | None],
    normalized: list[str],
    matcher: WordMatcher,
    started: float,
) -> None:
    """What was generated: words, questions, planted words caught, stray matches, personal data."""
    lengths = [len(q) for q in questions]
    found = [matcher.match(n) for n in normalized]
    flagged = sum(1 for blocked, review in found if blocked or review)
    plants = [
        (word, blocked + review) for word, (blocked, review) in zip(planted, found, strict=True) if word
    ]
    caught = sum(1 for word, hits in plants if word in hits)
    personal = sum(1 for q in questions if find_personal_data(q))
    blocked_words = sum(1 for _, level in words if level == BLOCK)
    print(
        f"data     seed {seed}: {len(words):,} words ({blocked_words:,} block, {len(words) - blocked_words:,} review), "
        f"{len(questions):,} questions of {min(lengths)}–{max(lengths)} characters "
        f"(mean {sum(lengths) / len(lengths):.1f}), built in {time.perf_counter() - started:.1f} s"
    )
    stray: Counter[str] = Counter()
    example = ""
    for text, plant, (blocked, review) in zip(questions, planted, found, strict=True):
        unplanted = [hit for hit in blocked + review if hit != plant]
        stray.update(unplanted)
        if unplanted and not example:
            example = f"{unplanted[0]} in {text!r}"
    print(
        f"content  {len(plants):,} questions ({len(plants) / len(questions):.1%}) had a banned word planted, "
        "about half disguised (spaces, punctuation, zero-width characters, full-width letters, traditional "
        f"characters); the screener catches {caught:,} of them. {flagged:,} questions "
        f"({flagged / len(questions):.1%}) match some banned word."
    )
    if stray:
        common = ", ".join(f"{word} ×{times:,}" for word, times in stray.most_common(3))
        print(f"         Matches of words nobody planted: {common}; e.g. {example}")
    print(f"         {personal:,} questions ({personal / len(questions):.1%}) hold personal data.")


def _check_agreement(normalized: list[str], matcher: WordMatcher, naive_levels: dict[str, str]) -> int:
    """Correctness: the automaton and the naive loop must find the same words on every sampled question."""
    naive_words = list(naive_levels)
    agreed = 0
    for text in normalized:
        blocked, review = matcher.match(text)
        automaton = {(normalize(w), BLOCK) for w in blocked} | {(normalize(w), REVIEW) for w in review}
        naive = {(w, naive_levels[w]) for w in naive_words if w in text}
        if automaton != naive:
            raise SystemExit(f"DISAGREE on {text!r}: automaton {sorted(automaton)} != naive {sorted(naive)}")
        agreed += 1
    print(f"check    automaton and naive `in` loop agree on {agreed:,} questions (same words, same levels)")
    return agreed


def _print_results(rows: list[Row], repeat: int, sample: int) -> bool:
    """The table, how it was timed, and the target against the full screener; whether it was met."""
    baseline = rows[-1].per_second
    print()
    header = ("method", "questions", "seconds", "cpu s", "questions/s", "µs/question", "vs baseline (×)")
    table: list[tuple[str, ...]] = [header]
    for row in rows:
        table.append(
            (
                row.method,
                f"{row.questions:,}",
                f"{row.seconds:.3f}",
                f"{row.cpu_seconds:.3f}",
                f"{row.per_second:,.0f}" + ("*" if row.extrapolated else ""),
                f"{row.micros:,.1f}",
                f"{row.per_second / baseline:,.0f}×" if not row.extrapolated else "1×",
            )
        )
    widths = [max(len(entry[i]) for entry in table) for i in range(len(header))]
    for number, entry in enumerate(table):
        cells = [entry[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(entry[1:], widths[1:], strict=True)
        ]
        print(" | ".join(cells))
        if number == 0:
            print("-+-".join("-" * width for width in widths))
    print()
    print(
        f"seconds: wall clock (time.perf_counter), best of {repeat} passes (the naive loop: one pass); "
        "cpu s: time.process_time of that pass."
    )
    print(
        f"* the naive baseline runs on a sample, the first {sample:,} questions only; its questions/s is "
        "extrapolated from that sample. It tests 'word in text' for every normalised word, over text "
        "already normalised, so it does not even pay for normalize() or the personal-data regexes."
    )
    full = rows[0]
    met = full.per_second >= TARGET_PER_SECOND
    by_cpu = full.questions / full.cpu_seconds if full.cpu_seconds else float("inf")
    print(
        f"target   full screener {full.per_second:,.0f} questions/s on one core by the wall clock "
        f"({by_cpu:,.0f}/s by CPU time): {'MET' if met else 'NOT MET'} (target ≥ {TARGET_PER_SECOND:,}/s)"
    )
    return met


def main(argv: Sequence[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(prog="python -m bench.screening", description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=100_000, help="questions to screen (default 100000)")
    parser.add_argument("--words", type=int, default=10_000, help="banned words (default 10000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the generated data (default 1)")
    parser.add_argument(
        "--sample", type=int, default=2_000, help="questions the naive baseline runs on (default 2000)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="passes per method; the best counts (default 3)"
    )
    parser.add_argument("--pin", action="store_true", help="keep the process on one CPU (Linux)")
    options = parser.parse_args(argv)
    if options.questions < 1 or options.words < 1 or options.sample < 1 or options.repeat < 1:
        parser.error("--questions, --words, --sample and --repeat must be at least 1")
    return run(options.questions, options.words, options.seed, options.sample, options.repeat, options.pin)


if __name__ == "__main__":
    main(sys.argv[1:])
