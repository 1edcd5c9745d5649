#!/usr/bin/python3
"""Seeded random test strings for tokenizer differential testing.
usage: gen.py NAME SEED N > cases.jsonl      (one {"cat": ..., "text": ...} per line)"""
import glob, json, os, random, sys, unicodedata

NAME, SEED, N = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
R = random.Random('%s-%d' % (NAME, SEED))

# ---------------- corpora available offline on this machine (sorted => deterministic) ----------------
PROSE = [open(f, encoding='utf-8', errors='replace').read()
         for f in sorted(glob.glob('/usr/share/common-licenses/*')) if os.path.isfile(f)]
CODE = [open(f, encoding='utf-8', errors='replace').read() for f in sorted(glob.glob('/usr/lib/python3.11/*.py'))]
WORDS = sorted(set(w for p in PROSE for w in p.split() if w.isalpha() and len(w) < 15))

SCRIPTS = {
    'latin_dia': 'àáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿĀāĂăĄąĆćČčĎďĒēĘęĚěĞğĪīİıŁłŃńŇňŐőŒœŘřŚśŞşŠšŢţŤťŮůŰűŸŹźŻżŽžǅǈǋẞßſ',
    'latin': 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ',
    'cjk': '的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴',
    'kana': 'ぁあぃいぅうぇえぉおかがきぎくぐけげこごさざしじすずせぜそぞただちぢっつづてでとどなにぬねのはばぱひびぴふぶぷへべぺほぼぽまみむめもゃやゅゆょよらりるれろゎわゐゑをんゔゕゖァアィイゥウェエォオカガキギクグケゲコゴサザシジスズセゼソゾタダチヂッツヅテデトドナニヌネノハバパヒビピフブプヘベペホボポマミムメモャヤュユョヨラリルレロヮワヰヱヲンヴヵヶヷヸヹヺ・ーヽヾｱｲｳｴｵｶｷｸｹｺﾞﾟ',
    'hangul': ''.join(chr(c) for c in range(0xAC00, 0xD7A4, 37)) + 'ㄱㄴㄷㄹㅁㅂㅅㅇㅈㅊㅋㅌㅍㅎㅏㅑㅓㅕㅗㅛㅜㅠㅡㅣ',
    'arabic': 'ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأؤإئةىًٌٍَُِّْٰٓٔ٠١٢٣٤٥٦٧٨٩،؛؟ـپچژکگی',
    'hebrew': 'אבגדהוזחטיךכלםמןנסעףפץצקרשתְֱֲֳִֵֶַָֹֻּׁׂ־׳״',
    'devanagari': 'अआइईउऊऋएऐओऔकखगघङचछजझञटठडढणतथदधनपफबभमयरलवशषसहािीुूृेैोौ्ंःँ़०१२३४५६७८९।॥क़ख़ग़',
    'thai': 'กขฃคฅฆงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรฤลฦวศษสหฬอฮฯะัาำิีึืฺุู฿เแโใไๅๆ็่้๊๋์ํ๎๏๐๑๒๓๔๕๖๗๘๙๚๛',
    'khmer': 'កខគឃងចឆជឈញដឋឌឍណតថទធនបផពភមយរលវឝឞសហឡអឣឤឥឦឧឨឩឪឫឬឭឮឯឰឱឲឳ឴឵ាិីឹឺុូួើឿៀេែៃោៅំះៈ៉៊់៌៍៎៏័៑្៓។៕៖ៗ៘៙៚៛ៜ៝០១២៣៤៥៦៧៨៩',
    'myanmar': 'ကခဂဃငစဆဇဈဉညဋဌဍဎဏတထဒဓနပဖဗဘမယရလဝသဟဠအဣဤဥဦဧဨဩဪါာိီုူေဲဳဴဵံ့း္်ျြွှဿ၀၁၂၃၄၅၆၇၈၉၊။၌၍၎၏',
    'cyrillic': 'абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯіїєґІЇЄҐўЎђћџЂЋЏ',
    'greek': 'αβγδεζηθικλμνξοπρσςτυφχψωΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩάέήίόύώϊϋΐΰΆΈΉΊΌΎΏ',
    'other': 'ԱԲԳաբգ აბგდ ሀሁሂ ᚠᚡᚢ ᠠᠡᠢ ꀀꀁ ᐁᐃᐅ ߊߋ ܐܒ ހށ 𐌰𐌱 𝐀𝐁𝐂 𝔄𝔅 ℌℍ ﬀﬁﬂ ＡＢＣａｂｃ０１２ ①②③ ⅠⅡⅢⅻ ²³¹¼½¾ ㈠㈡ ㍱㍲ 囍 𠀀𠀁𪚥 𫝀 ꯀꯁ ᜀᜁ',
}
PUNCT = list('.,;:!?\'"()[]{}<>-_=+*/\\|@#$%^&~`') + list('。，、；：？！「」『』（）【】《》…—–‘’“”«»¿¡·•§¶†‡°′″‰€£¥₩₹¢©®™')
SPACES = [' ', ' ', ' ', '\t', '\n', '\r\n', '\r', '\u00a0', '\u3000', '\u2028', '\u2029', '\u200b', '\u0085',
          '\u000b', '\u000c', '\u1680', '\u2000', '\u2002', '\u2003', '\u2007', '\u2009', '\u200a', '\u202f',
          '\u205f', '\u180e', '\ufeff', '\u200c', '\u200d', '\u2060', '\u001c', '\u001d', '\u001e', '\u001f']
EMOJI_BASE = list('😀😂🤣😍🥰😎🤔🙈🔥💯✨🎉🚀🌍🍕🐍🦀❤💔👍👎👋👏🙏💪🧑👩👨👧👦🏳🏴🌈⚧☕⌚⭐✅❌') + ['\u2764\ufe0f', '\u263a\ufe0f', '#\ufe0f\u20e3', '1\ufe0f\u20e3']
SKIN = ['\U0001F3FB', '\U0001F3FC', '\U0001F3FD', '\U0001F3FE', '\U0001F3FF']
ZWJ_SEQ = ['👨\u200d👩\u200d👧\u200d👦', '👩\u200d❤\ufe0f\u200d💋\u200d👨', '🏳\ufe0f\u200d🌈', '🏴\u200d☠\ufe0f',
           '🧑\u200d💻', '👩🏽\u200d🚀', '🏃\u200d♀\ufe0f', '👁\ufe0f\u200d🗨\ufe0f', '🐻\u200d❄\ufe0f', '🧔🏿\u200d♂\ufe0f',
           '🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f']
FLAGS = ['🇺🇸', '🇯🇵', '🇩🇪', '🇫🇷', '🇨🇳', '🇰🇷', '🇧🇷', '🇮🇳', '🇺🇦', '🇪🇺', '\U0001F1E6', '\U0001F1FF\U0001F1E6\U0001F1E6']
COMBINING = [chr(c) for c in range(0x300, 0x370)] + ['\u0483', '\u0591', '\u05b0', '\u0610', '\u064b', '\u0670',
             '\u093c', '\u0941', '\u0e31', '\u1ab0', '\u1dc0', '\u20d0', '\u20e3', '\ufe20', '\u302a', '\u3099', '\u309a']
HIGH = ['\uffff', '\ufffe', '\U0010ffff', '\U0010fffe', '\ufffd', '\ue000', '\uf8ff', '\U000f0000', '\U00100000',
        '\ufdd0', '\ufdef', '\U0001fffe', '\U000e0001', '\U000e0100', '\ufe0f', '\ufe0e', '\u0378', '\u0530',
        '\U0003134a', '\U00031350', '\U0002ebf0', '\U0001f979', '\U0001fae8', '\U0001fa77', '\U00016fe4', '\U0001e4d0',
        '\U00011f00', '\u2fff', '\u31e4', '\u0c5d', '\u0cf3', '\U0001b132', '\U0001d2c0']
CONTR = ["'s", "'S", "'t", "'T", "'re", "'Re", "'rE", "'RE", "'ve", "'VE", "'vE", "'m", "'M", "'ll", "'LL", "'Ll",
         "'lL", "'d", "'D", "’s", "’LL", "''s", "'", "'x", "'sS", "'lll"]

SPECIALS = {
    'qwen2': ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<img>', '</img>', '<IMG_CONTEXT>', '<quad>', '</quad>',
              '<ref>', '</ref>', '<box>', '</box>'],
    'phi2': ['<|endoftext|>'] + [' ' * k for k in (2, 3, 4, 8, 16, 31, 32, 33, 40)] + ['\t' * k for k in (2, 3, 9, 10, 12)],
    'internlm2': ['<unk>', '<s>', '</s>', '<|plugin|>', '<|interpreter|>', '<|action_end|>', '<|action_start|>',
                  '<|im_end|>', '<|im_start|>', '<img>', '</img>', '<IMG_CONTEXT>', '<quad>', '</quad>', '<ref>',
                  '</ref>', '<box>', '</box>', '[UNUSED_TOKEN_0]', '[UNUSED_TOKEN_140]', '[UNUSED_TOKEN_146]', '——', '……'],
    'phi3': ['<unk>', '<s>', '</s>', '<|endoftext|>', '<|assistant|>', '<|placeholder1|>', '<|placeholder6|>',
             '<|system|>', '<|end|>', '<|user|>', '<img>', '</img>', '<IMG_CONTEXT>', '<quad>', '</quad>', '<ref>',
             '</ref>', '<box>', '</box>'],
    'alpaca': ['<unk>', '<s>', '</s>', '[PAD]', 'summarize:'],
}[NAME]


def pick(seq):
    return seq[R.randrange(len(seq))]


def near_miss(t):
    if len(t) < 2 or not t.strip():
        return t + pick(['x', ' ', '\t'])
    ops = [lambda s: s[:-1], lambda s: s[1:], lambda s: s.upper(), lambda s: s.lower(), lambda s: s.swapcase(),
           lambda s: s[0] + ' ' + s[1:], lambda s: s[:-1] + ' ' + s[-1], lambda s: '<' + s + '>',
           lambda s: s.replace('|', '｜'), lambda s: s.replace('<', '＜'), lambda s: s.replace('_', '-'),
           lambda s: s[:len(s) // 2], lambda s: s[len(s) // 2:], lambda s: s[:-1] + s, lambda s: s + s[1:],
           lambda s: s.replace('>', '>>'), lambda s: s[:2] + '\u200b' + s[2:], lambda s: s.replace('<', '</')]
    return pick(ops)(t)


def word():
    return pick(WORDS)


def script_word(sc=None):
    sc = sc or pick(list(SCRIPTS))
    chars = SCRIPTS[sc]
    return ''.join(pick(chars) for _ in range(R.randint(1, 12)))


def emoji():
    k = R.random()
    if k < 0.3:
        return pick(ZWJ_SEQ)
    if k < 0.5:
        return pick(FLAGS)
    e = pick(EMOJI_BASE)
    if R.random() < 0.4:
        e += pick(SKIN)
    if R.random() < 0.2:
        e += '\ufe0f'
    return e


def digits():
    n = R.choice([1, 2, 3, 4, 5, 6, 7, 10, 16, 33, 100])
    d = ''.join(R.choice('0123456789') for _ in range(n))
    k = R.random()
    if k < 0.15:
        d = ''.join(R.choice('٠١٢٣٤٥٦٧٨٩०१२३४५६७८९０１２３４５６７８９²³½⅓①ⅫΩ') for _ in range(R.randint(1, 8)))
    elif k < 0.3:
        d = '%s.%s' % (d, R.randint(0, 10 ** 6))
    elif k < 0.4:
        d = '{:,}'.format(int(d))
    elif k < 0.5:
        d = d + pick(['st', 'nd', 'px', 'kg', 'GHz', '%', 'e10', 'x', '年', '円'])
    elif k < 0.6:
        d = pick(['v', 'x', '0x', '#', '$', '-', '+', 'abc', '№']) + d
    return d


def contraction():
    w = pick(WORDS + ['I', 'you', 'WE', 'She', 'it', 'they', 'x', 'Ω', '中'])
    return w + pick(CONTR) + pick(['', ' ', ' ', '.', '!', 'x', "'"])


def whitespace_run():
    return ''.join(pick(SPACES) for _ in range(R.choice([1, 1, 2, 3, 5, 8, 17, 40])))


def ctrl():
    return chr(R.choice(list(range(0, 32)) + [0x7f] + list(range(0x80, 0xa0))))


def high():
    k = R.random()
    if k < 0.5:
        return pick(HIGH)
    if k < 0.75:
        return chr(R.choice([R.randrange(0xE000, 0xF900), R.randrange(0xF0000, 0x110000)]))
    while True:  # any non-surrogate code point
        c = R.randrange(0x20, 0x110000)
        if not 0xD800 <= c < 0xE000:
            return chr(c)


def nfd_piece():
    k = R.random()
    base = pick(['e', 'a', 'o', 'A', 'n', 'i', 'u', 'c', 's', 'Z', 'α', 'ω', 'и', 'ı', 'ﬁ', ' ', '1', '中', 'ㄱ', '가'])
    if k < 0.3:  # NFD of a word with diacritics
        return unicodedata.normalize('NFD', script_word('latin_dia') + pick(['', script_word('greek'), script_word('hangul'), script_word('kana')]))
    if k < 0.6:  # stacks of combining marks in random (possibly non-canonical) order
        return base + ''.join(pick(COMBINING) for _ in range(R.randint(1, 6)))
    if k < 0.75:  # singletons / compatibility chars NFC changes
        return pick(['\u212b', '\u2126', '\u212a', '\u0340', '\u0341', '\u0343', '\u0344', '\u0374', '\u037e', '\u0387',
                     '\u1f71', '\u2000', '\u2001', '\u2329', '\u232a', '\uf900', '\ufa10', '\U0002f800', '\u0958', '\u09dc',
                     '\u0f43', '\ufb1d', '\ufb2a', '\u2adc', '\U0001d15e', '\u0344\u0301', 'e\u0301\u0327', 'e\u0327\u0301'])
    if k < 0.9:  # conjoining jamo (NFC composes to syllables)
        L = chr(R.randrange(0x1100, 0x1113)); V = chr(R.randrange(0x1161, 0x1176)); T = chr(R.randrange(0x11A7, 0x11C3))
        return pick([L + V, L + V + T, L, V + T, L + L + V, '\uac00' + T, '\uac01' + T])
    return base + pick(COMBINING) + base  # mark between


GEN_ATOM = [
    (word, 12), (lambda: pick(PUNCT), 4), (lambda: ' ', 10), (script_word, 6), (emoji, 2), (digits, 3),
    (contraction, 2), (whitespace_run, 2), (ctrl, 0.5), (high, 0.7), (nfd_piece, 1.5),
    (lambda: '\u2581' * R.randint(1, 3), 0.3), (lambda: pick(SPECIALS), 1), (lambda: near_miss(pick(SPECIALS)), 0.6),
]
_W = [w for _, w in GEN_ATOM]


def atoms(n, include_special=True):
    out = []
    for _ in range(n):
        f = R.choices(GEN_ATOM, weights=_W)[0][0]
        s = f()
        if not include_special and any(t in s for t in SPECIALS):
            continue
        out.append(s)
    return ''.join(out)


def excerpt(corpus, lo, hi):
    t = pick(corpus)
    n = R.randint(lo, hi)
    if len(t) <= n:
        return t
    s = R.randrange(len(t) - n)
    return t[s:s + n]


def long_doc():
    k = R.random()
    target = R.choice([1000, 3000, 6000, 12000, 20000])
    parts = []
    size = 0
    while size < target:
        if k < 0.4:
            p = excerpt(PROSE, 200, 3000)
        elif k < 0.7:
            p = excerpt(CODE, 200, 4000)
            if R.random() < 0.3:
                p = p.replace('    ', '\t')
        else:  # generated prose paragraphs with occasional specials / mixed script
            sents = []
            for _ in range(R.randint(2, 8)):
                ws = [word() for _ in range(R.randint(4, 20))]
                if R.random() < 0.3:
                    ws.insert(R.randrange(len(ws)), script_word())
                if R.random() < 0.2:
                    ws.insert(R.randrange(len(ws)), digits())
                if R.random() < 0.15:
                    ws.insert(R.randrange(len(ws)), contraction())
                sents.append(' '.join(ws).capitalize() + pick(['.', '.', '?', '!', '...', ':']))
            p = ' '.join(sents)
            if R.random() < 0.2:
                p = p + pick(SPECIALS)
        parts.append(p)
        parts.append(pick(['\n\n', '\n', '\r\n\r\n', '\n\n\n', '  \n', '\n \n', '\t\n']))
        size += len(p)
    doc = ''.join(parts)[:target]
    if R.random() < 0.2:
        doc = doc.rstrip('\n') + pick([' ', '   ', '\n', '\t'])
    return doc


def multiscript():
    n = R.randint(1, 40)
    sep = lambda: pick([' ', ' ', '', '\n', ', ', '。', '\u3000', '\u00a0', '-', "'", '  '])
    return sep().join(pick([script_word, script_word, word, digits, emoji, lambda: pick(PUNCT)])() for _ in range(n))


def specials_glued():
    out = []
    for _ in range(R.randint(1, 12)):
        k = R.random()
        if k < 0.35:
            t = pick(SPECIALS)
            out.append(t * R.choice([1, 1, 2, 3]))
        elif k < 0.5:
            out.append(near_miss(pick(SPECIALS)))
        elif k < 0.7:
            out.append(whitespace_run())
        else:
            out.append(atoms(R.randint(1, 5)))
    return ''.join(out)


def repeated():
    unit = pick(['a', 'ab', 'x ', ' ', '\t', '\n', '\r\n', '.', '!', '-', '=', '_', '*', '0', '9', '1 ', 'é', 'e\u0301',
                 '中', 'の', '한', 'ก', 'ក', '😀', '👍🏽', '\u200b', '\u00a0', '\u3000', "'s", 'hello', 'ab1', ' a',
                 '\u2581', 'Ω', 'ﬁ', 'Ａ', '<', '>', '|', 'the', 'anti', 'z' * 7, 'abcdefghijklmnopqrstuvwxyz'])
    n = R.choice([2, 3, 5, 10, 16, 31, 32, 33, 63, 64, 100, 255, 256, 257, 513, 1000, 2500])
    s = unit * max(1, n // max(1, len(unit)) if len(unit) > 3 else n)
    return pick(['', ' ', 'x', '\n', word()]) + s + pick(['', ' ', 'x', '\n', '.', word()])


def short_mix():
    return atoms(R.randint(1, 30))


CATS = [
    ('long_doc', long_doc, 8), ('multiscript', multiscript, 16), ('specials', specials_glued, 14),
    ('repeated', repeated, 8), ('mix', short_mix, 30),
    ('emoji', lambda: ''.join(pick([emoji, emoji, word, lambda: ' '])() for _ in range(R.randint(1, 15))), 5),
    ('nfd', lambda: ''.join(pick([nfd_piece, nfd_piece, word, lambda: ' '])() for _ in range(R.randint(1, 10))), 6),
    ('digits', lambda: ''.join(pick([digits, digits, word, lambda: pick(PUNCT), lambda: ' '])() for _ in range(R.randint(1, 15))), 5),
    ('contr', lambda: ''.join(pick([contraction, contraction, lambda: ' ', word, whitespace_run])() for _ in range(R.randint(1, 10))), 4),
    ('ws', lambda: ''.join(pick([whitespace_run, whitespace_run, word, lambda: pick(SPECIALS)])() for _ in range(R.randint(1, 10))), 6),
    ('ctrl_high', lambda: ''.join(pick([ctrl, high, high, word, lambda: ' '])() for _ in range(R.randint(1, 12))), 4),
]

for i in range(N):
    cat, f, _ = R.choices(CATS, weights=[w for *_, w in CATS])[0]
    t = f()
    print(json.dumps({'cat': cat, 'text': t}, ensure_ascii=True))
