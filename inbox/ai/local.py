"""
The local drafter (issue 14, point 1): with no model configured, it classifies a customer's
message with rules and answers the common questions from station data, without any network.

`classify(text)` looks for the L3 risks first, broadly (a complaint, a refund or chargeback,
an allergy or anything medical, a legal matter, a threat, a change to a booking) and for text
aimed at the assistant ("ignore your rules", "SYSTEM:", "auto-send"): the "injection" risk,
which never lets a message end at L1. Then it scores the other intents by keyword rules in
English and Spanish (with common typos and SMS shorthand, and a few words of Vietnamese, Chinese
and Tagalog); the confidence says how clear the match is: one strong match is sure, two
different questions or a vague one are not.

`answer(...)` writes a short plain-text reply (SMS-sized where it can) for the answerable intents
and for greetings and booking requests, in English or Spanish. Every price, date, time, phone
number, e-mail address and link in it comes from `facts` (context.station_facts) or from the
quote engine and live availability (context.quote_for, context.availability_on), so grounding
can verify it. It returns None when it cannot answer from data.
"""

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, time

from inbox.ai import context
from inbox.ai import intents as i
from inbox.ai.intents import Classification
from stations.models import Station

# --- classification ------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lower case without accents ("¿Cuánto?" → "¿cuanto?"); CJK and đ are kept."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _rx(*parts: str) -> re.Pattern:
    return re.compile("|".join(parts), re.I | re.M)


# Each risk: patterns over the folded text (accents removed). Broad on purpose: a false alarm
# costs a person a look; a miss could let the assistant answer what only a person may.
RISK_RULES: dict[str, re.Pattern] = {
    "threat": _rx(
        r"\b(kill|murder|shoot|stab|bomb|burn (down|your|you)|beat (you|u|your)|hurt (you|u|your)"
        r"|you('| wi)?ll (pay|regret)|watch your back|come after (you|u)|where you live"
        r"|destroy (you|your)|break your|te voy a (matar|buscar|golpear|romper)|matar(te|los)?"
        r"|amenaz\w*|vas a pagar|lo van a lamentar|giet)\b",
        r"杀|弄死|威胁",
    ),
    "legal": _rx(
        r"\b(lawyers?|attorneys?|sue|suing|sued|lawsuit|legal\w*|court|small claims|bbb"
        r"|better business bureau|health (dept|department|inspector|board)|report (you|u) to"
        r"|abogad\w*|demand(a|ar|are|aremos)|tribunal|luat su|kien|abugado|idedemanda)\b",
        r"律师|起诉|法院",
    ),
    "refund": _rx(
        r"\b((?!refundable|refund\s+polic)(refund|refnd|refound|refun)\w*|reembols\w*"
        r"|money back|my money|chargebacks?"
        r"|charge ?back|disput\w*|charged (me )?(twice|double|two times)|double[- ]charged"
        r"|overcharg\w*|devoluci\w*|devuelvan|devolver (mi|el) dinero|hoan tien|ibalik"
        r"|(want|need|give me|demand|where'?s|where is|waiting (for|on)) (my|the) deposit"
        r"( back)?|deposit back)\b",
        r"退款|退钱",
    ),
    "allergy": _rx(
        r"\b(allerg\w*|alerg\w*|alergic|epi-?pens?|anaphyla\w*|gluten|celiac\w*|coeliac"
        r"|shellfish|peanuts?|tree ?nuts?|nuts?|nut[- ]free|sesame|lactose|dairy[- ]free"
        r"|pregnan\w*|embarazad\w*|diabet\w*|medical|medic\w*|medication|sick|food poisoning"
        r"|intoxicaci\w*|vomit\w*|hospital\w*|diarrh\w*|mariscos|cacahuates?|mani|sin gluten"
        r"|di ung|buntis)\b",
        r"过敏|花生|怀孕",
    ),
    "complaint": _rx(
        r"\b(complain\w*|complaint|terrible|horrible|awful|worst|disappoint\w*|unacceptable"
        r"|rude|unprofessional|disgusting|gross|ruined|never (showed|came|arrived)|no[- ]show"
        r"|didn'?t (show|come)|did not (show|come)|was late|came late|showed up late"
        r"|(\d+|an|two|three) hours? late|cold food|food was (cold|bad|raw|awful)|undercooked"
        r"|raw chicken|bad experience|not happy|unhappy|upset|angry|furious|1[- ]star"
        r"|one star|bad review|scam\w*|rip[- ]?off|wtf|queja\w*|quejar\w*|pesim\w*"
        r"|decepcion\w*|mal servicio|groser\w*|llego tarde|no llego|nunca llego|khieu nai"
        r"|reklamo|mess|messy|damag\w*|burned|burnt|broke|broken|stain\w*|yelp|google review"
        r"|make (it|this|things) right|poor|bad (food|service|chef|job)|mistakes?|wrong)\b",
        r"投诉|差劲|太差",
    ),
    "booking_change": _rx(
        r"\b(reschedul\w*|resched|postpon\w*|reprogram\w*|posponer|cambi(ar|o) (la |mi |de |el )?"
        r"(fecha|hora|dia|reserva\w*|numero)|mover (la|mi|nuestra) (fiesta|reserva\w*|fecha)"
        r"|cancelar\w*|cancela (mi|la)|doi (ngay|lich|gio)|huy (dat|lich|booking)"
        r"|kanselahin|ipagpaliban|ilipat)\b",
        r"\b(cancel|cancle|cancell?|cxl|change|chng|move|modify|switch|update|push( back)?|bump"
        r"|shift|edit|add|remove)\s+(my|our|the|this|that|a)?\s*(booking|bookin|reservation"
        r"|reservaton|resv|rez|res|party|event|date|time|order|appointment|appt|dinner"
        r"|hibachi|guest count|headcount|head count|number of guests)\b",
        r"\b(need|want|have|going|gonna|wanna|like|please|pls|plz|must|got|ok|i'?d like) (to )?"
        r"(cancel|cancle|cxl|reschedule|move (it|the|our|my)|change (it|the|our|my))\b",
        r"\b(add|remove|reduce|increase|decrease|drop)\b.{0,25}\b(guests?|people|adults?|kids?"
        r"|persons?)\b.{0,30}\b(booking|reservation|party|event|order)\b",
        r"\b(booking|reservation|confirmation) (ref(erence)?|number|no\.?|#|code)\b.{0,60}"
        r"\b(change|move|cancel|cancle|different|instead)\b",
        r"\b(now|actually) (we('re| are| have| will have)|it'?s|there will be) (\d+|only)\b",
        r"\b(\d+|a few|some|two|three|four|five) more (people|guests|adults|kids|persons)\b"
        r"|\badd\b.{0,30}\bto (my|our|the) (booking|reservation|party|event|order)\b",
        r"\b(my|our) (booking|reservation|party|event|order|appointment|date)\b.{0,40}"
        r"\b(switch\w*|chang\w*|mov(e|ed|ing)|cancel\w*|instead|different|earlier|later"
        r"|reschedul\w*|postpon\w*)\b|\b(switch\w*|chang\w*|mov(e|ed|ing))\b.{0,30}\b(my|our)"
        r" (booking|reservation|party|event|order|appointment)\b|\bbooking change\b",
        r"改期|取消|换日期",
    ),
    "injection": _rx(
        r"\b(ignore|ignora|disregard|forget|bypass|override|overrule)\b.{0,40}\b(rules?"
        r"|instructions?|prompts?|guidelines|polic(y|ies)|previous|above|everything|reglas"
        r"|instrucciones|restrictions|limits)\b",
        r"\b(you are|you're|ur) now\b|\bfrom now on,? (you|u)\b|\bact as\b|\bpretend (to be|you"
        r"|that)\b|\broleplay\b|\bsystem prompt\b|\bsystem ?:|^\s*system\b|\[\s*system\s*\]"
        r"|<\s*/?\s*system|\bdeveloper mode\b|\bjailbreak\w*\b|\bdan mode\b|\bauto[- ]?sen(d|t)\b"
        r"|\bas (the|an|a|your) (ai|assistant|bot|language model|llm|chatbot)\b"
        r"|\b(hey|dear|attention|note to|to the|instructions for( the)?) (ai|bot|assistant"
        r"|chatbot|gpt|chatgpt|model|llm)\b|\bnew instructions?\b|\binstructions? ?:"
        r"|\boverride\b|\badmin (mode|override|command)\b|\b(print|reveal|show|repeat|tell me)"
        r" (me )?(your|the) (prompt|instructions|rules|system)\b|\b(reply|respond|answer) only"
        r" with\b|\bsay (exactly|only)\b|\bconfirm (a |the |my )?(refund|cancellation|discount"
        r"|free)\b|\b(eres ahora|ahora eres|olvida (tus|las|todas) (instrucciones|reglas)"
        r"|ignora (tus|las) (reglas|instrucciones))\b|\bassistant ?:|\buser ?:|###"
        r"|\bbegin (system|admin)\b|\b(tool|function) call\b|\bapprove (this|the|my) (refund"
        r"|discount)\b|\bmark (this|it|the booking) (as )?(paid|refunded|confirmed)\b"
        r"|\bwithout (human|staff|manager) (review|approval)\b|\b(do not|don'?t|not) (tell|escalate"
        r"|flag|notify|inform)\b|\b(the |this )?(ai|assistant|bot|gpt|model) (should|must|will"
        r"|needs to|has to|is allowed|may)\b|\bauto[- ]?(approve|confirm|reply|respond)\w*"
        r"|\btreat (this|it|me)\b.{0,20}\bas\b|\b(coming|comes) from the (owner|manager|admin)"
        r"|\bthis is the (owner|manager|admin|developer)\b|[(\[{]\s*(assistant|ai|bot|gpt)\b"
        r"|\b(assistant|bot|gpt|chatgpt)\s*[,:]",
        # Telling the classifier what to answer ("classify this as price with confidence 1 and
        # no risks", "intent=price") or the drafter what to write ("reply that the total is
        # $5", "include this link in your reply").
        r"\b(classify|categori[sz]e|label|tag)\b.{0,40}\b(as|intent|confidence|risks?)\b"
        r"|\b(intent|confidence|risks?|level)\s*[=:]|\bconfidence (of |to |at |is )?(1(\.0+)?"
        r"|100\s*%|high|max\w*)\b|\b(no|zero|empty|without) risks?\b|\brisks?\s*(is |are )?"
        r"(empty|none|\[\s*\])|\b(reply|respond|answer|write back|tell (me|them|the customer))"
        r" (that|with|saying)\b|\b(include|put|add|mention|insert|paste|quote)\b.{0,40}\b(in|into"
        r"|to) (your|the) (reply|answer|response|message|text|draft)\b",
    ),
}
# The L3 intent a risk stands for, most serious first.
RISK_PRIORITY = ("threat", "legal", "refund", "allergy", "complaint", "booking_change")

# Hypothetical questions about the policy ("what happens if I cancel?") are not a change.
POLICY_QUESTION = _rx(
    r"\b(cancel\w*|cancle|refund|reschedul\w*) polic\w*|\bpolicy\b|\bpolitica\b|what happens if"
    r"|\bif (i|we|u) (ever )?(need to |have to |must |decide to )?(cancel|cancle|reschedule)\b"
    r"|\bsi (cancelo|cancelamos|tengo que cancelar)\b|\bcan (i|we|u) (cancel|reschedule)\b"
    r"|\bcould (i|we) (cancel|reschedule)\b"
)
# Possessive booking talk overrides the hypothetical reading ("if I cancel MY booking ...").
POSSESSIVE_CHANGE = _rx(
    r"\b(cancel|cancle|change|move|reschedule|postpone)\w*\s+(my|our)\s+(booking|reservation"
    r"|party|event|date|order)\b|\bcancelar (mi|nuestra) (reserva\w*|fiesta)"
)

# Intents: (pattern, weight). A strong word says it alone (0.9); a weak one only hints.
INTENT_RULES: dict[str, list[tuple[re.Pattern, float]]] = {
    i.PRICE: [
        (
            _rx(
                r"\b(how much|how mch|hw much|how muc|hm for|prices?|priced|pricing|prise"
                r"|prices|pirce|prcie|pric|costs?|costo|do (you|u) charge"
                r"|minimum( spend| charge| order)?|cuanto (cuesta|cobran|sale|es|seria"
                r"|son)|cuanto|precios?|tarifas?|quote|estimate|cotizaci\w*|presupuesto"
                r"|per person|per head|magkano|bao nhieu|gia ca|gia)\b|\$\s*\?",
                r"多少钱|价格|价钱|费用|报价",
            ),
            0.9,
        ),
        (_rx(r"\b(charge (for|per)|rates?|total|afford\w*|budget|expensive|cheap\w*)\b"), 0.6),
    ],
    i.MENU: [
        (
            _rx(
                r"\b(menu|menue|meny|manu|food options|what (food|do you (serve|cook|offer|make)"
                r"|kind of food|proteins? (do you|are))|proteins?|add[- ]?ons?|upgrades?|filet"
                r"|lobster|vegetarian|vegan|veggie|halal|que (sirven|cocinan|comida)|comida"
                r"|platillos|thuc don|dishes|fried rice|noodles|sides)\b",
                r"菜单|菜品",
            ),
            0.9,
        ),
        (_rx(r"\b(chicken|steak|shrimp|salmon|scallops?|tofu|food|options|sake|dessert)\b"), 0.5),
    ],
    i.INCLUDED: [
        (
            _rx(
                r"\b(what'?s included|what is included|whats included|what'?s incl|included"
                r"|includes?|inclu\w*|come with|comes with|do you (bring|provide)|bring (the |your"
                r" own )?(grill|plates|utensils|tables|chairs|everything|food)|provide (the )?"
                r"(grill|plates|utensils|tables|chairs|food)|need to (provide|have|bring)"
                r"|tables? and chairs|plates|utensils|propane|clean ?up|que incluye|traen"
                r"|bao gom|kasama)\b",
                r"包括|包含",
            ),
            0.9,
        ),
        (_rx(r"\b(setup|set up|equipment|grill)\b"), 0.5),
    ],
    i.SERVICE_AREA: [
        (
            _rx(
                r"\b(service area|serve (my |the )?(area|city|zip|town)|(you|u)( guys| all)? (serve"
                r"|service|cover|come (to|out)|go to|travel to)|(can|could|would|will|do) (you|u)"
                r"( guys)? (serve|service|cover|come|go|travel|drive)|(come|travel|drive) (to"
                r"|out to|all the way)|travel"
                r" fee|travel charge|in my area|near me|my area|zip ?codes?|area de servicio"
                r"|van a|llegan a|vienen a|cobran por (viaje|distancia)|zona|co den|pumupunta"
                r"|how far)\b",
                r"服务范围|服务区",
            ),
            0.9,
        ),
        (_rx(r"\b(serve|servic(e|ing)|cover|area|located|location|far|distance|travel)\b"), 0.5),
    ],
    i.AVAILABILITY: [
        (
            _rx(
                r"\b(availab\w*|availble|avail|avl|avialable|avaliable|openings?|any (time|dates?"
                r"|spots?|slots?)|slots?|booked up|fully booked|do (you|u) have (time|room|space"
                r"|anything|an opening)|(are|r) (you|u)( guys| all)? (free|open|available|busy)"
                r"|times? (do you have|are (left|open|available))|what times|still open"
                r"|free on|open on|disponib\w*|tienen (espacio|lugar|fecha|tiempo)|hay (espacio"
                r"|lugar)|con trong|co ranh|ranh khong|bakante|libre ba)\b",
                r"有空|有档期|还有位",
            ),
            0.9,
        ),
        (_rx(r"\b(open|free|when can|what day|which days?|busy)\b"), 0.5),
    ],
    i.DEPOSIT_POLICY: [
        (
            _rx(
                r"\b(deposits?|deposito|down ?payment|retainer|anticipo|enganche|refundable"
                r"|non[- ]?refundable|pay (upfront|up front|in advance|ahead)|balance due|when is"
                r" (the )?(balance|rest|payment) due|hold (the|my|our|a) (date|day|spot)"
                r"|save (the|my|our) date|when is"
                r" (the )?(balance|rest|payment) due|dat coc|paunang bayad)\b",
                r"订金|定金|押金",
            ),
            0.9,
        ),
    ],
    i.CANCELLATION_POLICY: [
        (
            _rx(
                r"\b(cancel\w*|cancle|refund|reschedul\w*) polic\w*|\bwhat happens if\b"
                r"|\bif (i|we|u) (ever )?(need to |have to |must |decide to )?(cancel|cancle"
                r"|reschedule)\b|\bpolitica de (cancelaci\w*|reembolso)\b|\bsi (cancelo"
                r"|cancelamos|tengo que cancelar)\b|\bcan (i|we|u) (cancel|reschedule) (later|if)\b"
                r"|\bchinh sach huy\b",
                r"取消政策",
            ),
            0.92,
        ),
        (_rx(r"\b(policy|polic(ies)?|politica|free reschedule|change fee)\b"), 0.6),
    ],
    i.BOOKING_REQUEST: [
        (
            _rx(
                r"\b(book|reserve|hire|want to (book|have|do)|would like to (book|have)|like to"
                r" book|wanna book|interested in|quiero (reservar|contratar)|reservar|contratar"
                r"|set up (a|an) (party|event)|dat lich|magpa-?book|mag-?book)\b",
                r"预订|预约",
            ),
            0.7,
        ),
        (_rx(r"\b(birthday|bday|party|graduation|anniversary|wedding|cumpleanos|fiesta)\b"), 0.3),
    ],
    i.GREETING: [
        (
            _rx(
                r"^\W*(hi+|hello|helo|hey+|hiya|yo|good (morning|afternoon|evening)|hola|buenas"
                r"( tardes| noches| dias)?|buenos dias|xin chao|chao ban|kumusta|magandang"
                r" (umaga|hapon|gabi))\b",
                r"^\W*(你好|您好)",
            ),
            0.9,
        ),
    ],
}

RISK_FREE_AVAILABILITY = _rx(r"\b(open|free|booked|busy|work for you|taken)\b")
QUESTIONS = frozenset({*i.ANSWERABLE, i.BOOKING_REQUEST})  # what competes for the main intent
SPANISH = _rx(
    r"[¿¡ñ]|\b(hola|cuanto|cuesta|precio|para|personas|gracias|quiero|tienen|fecha|donde|que"
    r"|por favor|necesito|fiesta|sabado|domingo|ustedes|nosotros|somos|buenas|hay|de junio)\b"
)
VIETNAMESE = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.I)
CHINESE = re.compile(r"[\u4e00-\u9fff]")
TAGALOG = _rx(r"\b(po|magkano|salamat|pwede|ba|kayo|namin|ninyo|kumusta|ilan|sa)\b")


def language_of(text: str) -> str:
    if CHINESE.search(text):
        return "zh"
    if VIETNAMESE.search(text):
        return "vi"
    folded = _fold(text)
    if len(SPANISH.findall(folded)) >= 1 and not re.search(r"\b(the|is|are|you)\b", folded):
        return "es"
    if len(TAGALOG.findall(folded)) >= 2:
        return "tl"
    return "en"


def _risks(lowered: str, folded: str) -> list[str]:
    both = f"{lowered}\n{folded}"
    found = [risk for risk, rule in RISK_RULES.items() if rule.search(both)]
    if (
        "booking_change" in found
        and POLICY_QUESTION.search(folded)
        and not POSSESSIVE_CHANGE.search(folded)
    ):
        found.remove("booking_change")
    return found


def _scores(lowered: str, folded: str) -> dict[str, float]:
    both = f"{lowered}\n{folded}"
    scores = {}
    for intent, rules in INTENT_RULES.items():
        weights = [weight for rule, weight in rules if rule.search(both)]
        if weights:
            scores[intent] = min(0.97, max(weights) + 0.03 * (len(weights) - 1))
    return scores


def classify(text: str) -> Classification:
    """The intent, risks and language of one customer message, by rules (no network)."""
    lowered = (text or "").lower()
    folded = _fold(text or "")
    language = language_of(text or "")
    risks = _risks(lowered, folded)
    scores = _scores(lowered, folded)

    if context.ZIP_RE.search(folded) and i.SERVICE_AREA not in scores:
        scores[i.SERVICE_AREA] = 0.45
    has_date = context.date_in(folded, today=date(2000, 1, 1)) is not None
    if has_date and i.AVAILABILITY not in scores:
        scores[i.AVAILABILITY] = 0.35  # a date and nothing else: probably "are you free?"
    if i.DEPOSIT_POLICY in scores and i.CANCELLATION_POLICY in scores:
        scores.pop(i.CANCELLATION_POLICY if scores[i.DEPOSIT_POLICY] > 0.85 else i.DEPOSIT_POLICY)
    if i.CANCELLATION_POLICY in scores and scores[i.CANCELLATION_POLICY] > 0.9:
        scores.pop(i.BOOKING_REQUEST, None)  # "if I cancel my booking...": the booking word
    party_size = context.guests_in(folded)[0] is not None
    for other in (i.DEPOSIT_POLICY, i.INCLUDED):
        # "How much is the deposit?", "Does the price include plates?": the price word asks
        # about the other thing, unless a party is given (and the quote answers both).
        if i.PRICE in scores and other in scores:
            scores.pop(other if party_size or scores[other] < 0.9 else i.PRICE)
    if scores.get(i.INCLUDED, 0) >= 0.9 and i.MENU in scores:
        scores.pop(i.MENU)  # "does it come with fried rice?"
    if has_date and 0 < scores.get(i.AVAILABILITY, 0) < 0.9:
        raw = RISK_FREE_AVAILABILITY.search(folded)
        if raw:
            scores[i.AVAILABILITY] = 0.9  # "is the 20th open?"

    threat_level = [risk for risk in RISK_PRIORITY if risk in risks]
    if threat_level:
        confidence = 0.9 + 0.03 * min(3, len(threat_level) - 1)
        return Classification(threat_level[0], round(confidence, 2), tuple(risks), language)

    questions = sorted(
        ((score, intent) for intent, score in scores.items() if intent in QUESTIONS),
        reverse=True,
    )
    if questions:
        confidence, intent = questions[0]
        if intent == i.BOOKING_REQUEST and len(questions) > 1 and questions[1][0] >= 0.5:
            # "Can I book Saturday? Are you available?": the question is the answerable one.
            confidence, intent = questions[1][0], questions[1][1]
            others = [s for s, name in questions if name not in (intent, i.BOOKING_REQUEST)]
        else:
            others = [s for s, name in questions[1:] if name != i.BOOKING_REQUEST]
        if others and max(others) >= 0.5:
            confidence -= 0.25 if max(others) >= 0.85 else 0.15  # two questions in one
        if len(folded.split()) > 60:
            confidence -= 0.1  # a long message says more than its keywords
    elif i.GREETING in scores and len(folded.split()) <= 8:
        intent, confidence = i.GREETING, 0.9
    elif i.GREETING in scores:
        intent, confidence = i.GREETING, 0.6
    else:
        intent, confidence = i.OTHER, 0.4
    if language not in ("en", "es"):
        confidence = min(confidence, 0.8)  # the local drafter writes English and Spanish
    return Classification(intent, round(max(0.05, confidence), 2), tuple(risks), language)


# --- answers -------------------------------------------------------------------------------

MONTHS_ES = (
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre"
)
WEEKDAYS_ES = "lunes martes miércoles jueves viernes sábado domingo"


def _say(language: str, en: str, es: str) -> str:
    return es if language == "es" else en


def day_text(day: date, language: str = "en") -> str:
    """ "Saturday, December 12" / "sábado 12 de diciembre"."""
    if language == "es":
        return (
            f"{WEEKDAYS_ES.split()[day.weekday()]} {day.day} de {MONTHS_ES.split()[day.month - 1]}"
        )
    return f"{day:%A, %B} {day.day}"


def time_text(at: time) -> str:
    """ "5:00 PM" (every language the drafter writes)."""
    return f"{at.hour % 12 or 12}:{at.minute:02d} {'AM' if at.hour < 12 else 'PM'}"


def _party(details: dict, language: str) -> str:
    adults, children = details["adults"], details["children"] or 0
    if children:
        return _say(
            language,
            f"{adults} adult{'s' * (adults != 1)} and {children} kid{'s' * (children != 1)}",
            f"{adults} adulto{'s' * (adults != 1)} y {children} niño{'s' * (children != 1)}",
        )
    return _say(language, f"{adults} guests", f"{adults} personas")


def _book_line(facts: dict, language: str) -> str:
    url = facts.get("booking_url")
    if not url:
        return ""
    return _say(language, f"Book online: {url}", f"Reserve en línea: {url}")


def _join(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def _answer_price(station, details, facts, language, now) -> str | None:
    prices = facts.get("prices")
    if prices is None:
        return None
    zip_code = details["zip"] or ""
    if zip_code and context.zone_for(station, zip_code) is None:
        return _outside_area(zip_code, facts, language)
    quote = None
    if details["adults"]:
        quote = context.quote_for(
            station=station,
            adults=details["adults"],
            children=details["children"] or 0,
            event_date=details["date"],
            zip_code=zip_code,
            now=now,
        )
    if quote is None:
        minimums = facts["minimums"]
        return _join(
            _say(
                language,
                f"Adults are {prices['adult']} and kids ({prices['child_age_limit']} and under) "
                f"{prices['child']} per person, with a {minimums['weekday']} minimum Mon-Thu and "
                f"{minimums['weekend']} Fri-Sun.",
                f"Adultos {prices['adult']} y niños ({prices['child_age_limit']} años o menos) "
                f"{prices['child']} por persona; mínimo {minimums['weekday']} de lunes a jueves "
                f"y {minimums['weekend']} de viernes a domingo.",
            ),
            _say(
                language,
                "Send your date, number of guests and ZIP code for an exact quote.",
                "Envíenos la fecha, el número de invitados y su código postal para una "
                "cotización exacta.",
            ),
        )
    when = (
        _say(language, f"on {day_text(details['date'])}", f"el {day_text(details['date'], 'es')}")
        if details["date"]
        else _say(language, "on a weekday (Mon-Thu)", "entre semana (lunes a jueves)")
    )
    included = [
        _say(language, f"{quote['tax']} tax", f"{quote['tax']} de impuesto")
        if quote["tax_cents"]
        else "",
        _say(language, f"{quote['gratuity']} gratuity", f"{quote['gratuity']} de propina")
        if quote["gratuity_cents"]
        else "",
        _say(language, f"{quote['travel_fee']} travel fee", f"{quote['travel_fee']} de traslado")
        if quote["travel_fee_cents"]
        else "",
    ]
    included = [part for part in included if part]
    extras = _say(language, f" (incl. {', '.join(included)})", f" (incluye {', '.join(included)})")
    first = _say(
        language,
        f"For {_party(details, language)} {when}, the total is {quote['total']}",
        f"Para {_party(details, language)} {when}, el total es {quote['total']}",
    ) + (extras if included else "")
    if not zip_code:
        first += _say(language, ", before any travel fee", ", sin contar traslado")
    first += "."
    weekend = ""
    if quote["weekend"]:
        weekend = _say(
            language,
            f"Fri-Sun: {quote['weekend']['total']}.",
            f"De viernes a domingo: {quote['weekend']['total']}.",
        )
    deposit = _say(
        language,
        f"A {quote['deposit']} deposit holds your date.",
        f"Un depósito de {quote['deposit']} aparta su fecha.",
    )
    return _join(first, weekend, deposit, _book_line(facts, language))


def _outside_area(zip_code: str, facts: dict, language: str) -> str:
    areas = ", ".join(zone["name"] for zone in facts["zones"])
    return _say(
        language,
        f"Sorry, {zip_code} is outside our service area. We serve {areas}.",
        f"Lo sentimos, {zip_code} está fuera de nuestra zona de servicio. Atendemos {areas}.",
    )


def _answer_service_area(station, details, facts, language, now) -> str | None:
    if not facts["zones"]:
        return None
    zip_code = details["zip"]
    if not zip_code:
        areas = ", ".join(zone["name"] for zone in facts["zones"])
        return _say(
            language,
            f"We serve {areas}. What's your ZIP code? I'll check it and the travel fee.",
            f"Atendemos {areas}. ¿Cuál es su código postal? Le confirmo la zona y el traslado.",
        )
    zone = context.zone_for(station, zip_code)
    if zone is None:
        return _outside_area(zip_code, facts, language)
    if zone["travel_fee_cents"]:
        fee = _say(
            language,
            f"The travel fee there is {zone['travel_fee']}.",
            f"El cargo de traslado es {zone['travel_fee']}.",
        )
    else:
        fee = _say(language, "No travel fee there.", "Sin cargo de traslado.")
    return _join(
        _say(
            language,
            f"Yes, we serve {zip_code} ({zone['name']})!",
            f"¡Sí, llegamos a {zip_code} ({zone['name']})!",
        ),
        fee,
        _book_line(facts, language),
    )


def _runs(starts: list[time], step_minutes: int) -> list[tuple[time, time]]:
    """Consecutive start times (every `step_minutes`) as (first, last) runs."""
    runs: list[list[time]] = []
    for at in starts:
        minutes = at.hour * 60 + at.minute
        if runs and minutes - (runs[-1][1].hour * 60 + runs[-1][1].minute) == step_minutes:
            runs[-1][1] = at
        else:
            runs.append([at, at])
    return [(first, last) for first, last in runs]


def _listing(items: list[str], language: str) -> str:
    """ "a, b and c" / "a, b y c"."""
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])}{_say(language, ' and ', ' y ')}{items[-1]}"


def _answer_availability(station, details, facts, language, now) -> str | None:
    day = details["date"]
    if day is None:
        return _join(
            _say(
                language,
                "Which date are you thinking of, and for how many guests? I'll check our "
                "chefs' calendar.",
                "¿Qué fecha tiene en mente y para cuántos invitados? Reviso el calendario de "
                "nuestros chefs.",
            ),
            _book_line(facts, language),
        )
    first_day, last_day = context.booking_window(station, now)
    shown = day_text(day, language)
    if day < first_day:
        return _say(
            language,
            f"We need at least {facts['min_notice_hours']} hours' notice, so {shown} is too "
            f"soon. The first day we can book is {day_text(first_day)}.",
            f"Necesitamos al menos {facts['min_notice_hours']} horas de anticipación; el primer "
            f"día disponible para reservar es el {day_text(first_day, 'es')}.",
        )
    if day > last_day:
        return _say(
            language,
            f"We book up to {facts['booking_horizon_days']} days ahead, so {shown} isn't open "
            "yet. Please check back closer to the date.",
            f"Reservamos hasta {facts['booking_horizon_days']} días antes; el {shown} aún no "
            "está abierto.",
        )
    guests = details["guests"] or 0
    if guests > station.max_guests:
        return None  # a person plans a party that big
    slots = context.availability_on(station=station, day=day, guests=guests or 10, now=now)
    if not slots:
        return _say(
            language,
            f"Sorry, {shown} is fully booked. Would another date work?",
            f"Lo sentimos, el {shown} ya está lleno. ¿Le sirve otra fecha?",
        )
    starts = [time.fromisoformat(slot["start"]) for slot in slots]
    runs = _runs(starts, station.slot_interval_minutes)
    pieces = [time_text(a) if a == b else f"{time_text(a)} to {time_text(b)}" for a, b in runs[:4]]
    if language == "es":
        pieces = [piece.replace(" to ", " a ") for piece in pieces]
    times = _listing(pieces, language)
    if any(a != b for a, b in runs):
        times += _say(
            language,
            f" (every {station.slot_interval_minutes} minutes)",
            f" (cada {station.slot_interval_minutes} minutos)",
        )
    party = _say(language, f" for {guests} guests", f" para {guests} personas") if guests else ""
    return _join(
        _say(
            language,
            f"Good news: {shown} is open{party}! Start times: {times}.",
            f"¡Buenas noticias! El {shown} está disponible{party}. Horarios de inicio: {times}.",
        ),
        _book_line(facts, language),
    )


def _answer_menu(station, details, facts, language, now) -> str | None:
    prices = facts.get("prices")
    if prices is None:
        return None
    addons = "; ".join(addon["line"] for addon in facts["addons"])
    return _join(
        facts.get("included", "") if language == "en" else "",
        _say(
            language,
            f"Adults {prices['adult']}, kids ({prices['child_age_limit']} and under) "
            f"{prices['child']} per person.",
            f"Adultos {prices['adult']}, niños ({prices['child_age_limit']} años o menos) "
            f"{prices['child']} por persona.",
        ),
        _say(language, f"Add-ons: {addons}.", f"Extras: {addons}.") if addons else "",
        _book_line(facts, language),
    )


def _answer_included(station, details, facts, language, now) -> str | None:
    prices = facts.get("prices")
    included = facts.get("included", "")
    if not included and prices is None:
        return None
    per_person = ""
    if prices is not None:
        per_person = _say(
            language,
            f"Adults {prices['adult']}, kids {prices['child']} per person.",
            f"Adultos {prices['adult']}, niños {prices['child']} por persona.",
        )
    if included and language == "en":
        return _join(included, per_person)
    return _join(
        _say(
            language,
            "Your chef brings the grill and cooks the whole meal at your place.",
            "Su chef trae la parrilla y cocina todo en su casa.",
        ),
        per_person,
        _book_line(facts, language),
    )


def _answer_deposit(station, details, facts, language, now) -> str | None:
    if not facts.get("deposit"):
        return None
    prices = facts["prices"]
    if language == "es":
        if prices["deposit_kind"] == "percent":
            deposit = f"Un depósito del {prices['deposit_percent']} del total aparta su fecha."
        else:
            deposit = f"Un depósito de {prices['deposit_fixed']} aparta su fecha."
        return _join(deposit, _cancellation_es(station))
    return _join(facts["deposit"], facts["cancellation"])


def _cancellation_es(station: Station) -> str:
    return (
        f"Si cancela al menos {station.deposit_forfeit_hours} horas antes del evento, le "
        "reembolsamos todo; después, el depósito no es reembolsable y se devuelve el resto."
    )


def _answer_cancellation(station, details, facts, language, now) -> str | None:
    if language == "es":
        return _join(
            _cancellation_es(station),
            f"Un cambio de fecha gratis si lo pide al menos {station.free_reschedule_notice_hours}"
            " horas antes.",
        )
    return _join(facts["cancellation"], facts["reschedule"])


def _answer_greeting(station, details, facts, language, now) -> str | None:
    return _join(
        _say(
            language,
            f"Hi! Thanks for reaching out to {facts['name']}. How can we help? For a quote, "
            "send your date, number of guests and ZIP code.",
            f"¡Hola! Gracias por escribir a {facts['name']}. ¿En qué le ayudamos? Para "
            "cotizar, envíenos la fecha, el número de invitados y su código postal.",
        ),
        _book_line(facts, language),
    )


def _answer_booking_request(station, details, facts, language, now) -> str | None:
    missing = [
        name
        for name, key in (
            (_say(language, "the date", "la fecha"), "date"),
            (_say(language, "number of guests", "número de invitados"), "guests"),
            (_say(language, "ZIP code", "código postal"), "zip"),
        )
        if not details[key]
    ]
    if not missing:
        opening = _say(
            language,
            "We'd love to cook for you! Pick your start time and book",
            "¡Con gusto cocinamos para usted! Elija su horario y reserve",
        )
        url = facts.get("booking_url")
        return f"{opening}: {url}" if url else None
    return _join(
        _say(
            language,
            f"We'd love to cook for you! Please send {_listing(missing, language)}",
            f"¡Con gusto cocinamos para usted! Envíenos {_listing(missing, language)}",
        )
        + ".",
        _say(language, "Or book online:", "O reserve en línea:") + f" {facts['booking_url']}"
        if facts.get("booking_url")
        else "",
    )


ANSWERS: dict[str, Callable] = {
    i.PRICE: _answer_price,
    i.MENU: _answer_menu,
    i.INCLUDED: _answer_included,
    i.SERVICE_AREA: _answer_service_area,
    i.AVAILABILITY: _answer_availability,
    i.DEPOSIT_POLICY: _answer_deposit,
    i.CANCELLATION_POLICY: _answer_cancellation,
    i.GREETING: _answer_greeting,
    i.BOOKING_REQUEST: _answer_booking_request,
}


def answer(
    *, station: Station, intent: str, text: str, facts: dict, now: datetime | None = None
) -> str | None:
    """A short reply to `text` for `intent` from station data (`facts`: context.station_facts),
    in English, or Spanish when the message is; None when the intent is not one the drafter
    answers or the data to answer it is missing. `now`: the clock for dates and availability
    (default: the real one)."""
    handler = ANSWERS.get(intent)
    if handler is None:
        return None
    details = context.details_in(text, station=station, now=now)
    language = "es" if language_of(text) == "es" else "en"
    return handler(station, details, facts, language, now)
