"""What the demo hospital is made of: wards, clinics, names, drugs, tests."""

WARDS = (
    ("3A", "Cardiologie / Cardiologie"),
    ("3B", "Pneumologie / Longziekten"),
    ("4A", "Gériatrie / Geriatrie"),
    ("4B", "Chirurgie digestive / Abdominale heelkunde"),
    ("5A", "Orthopédie / Orthopedie"),
    ("5B", "Médecine interne / Inwendige geneeskunde"),
    ("6A", "Neurologie / Neurologie"),
    ("6B", "Oncologie / Oncologie"),
    ("7A", "Néphrologie / Nefrologie"),
    ("7B", "Gastro-entérologie / Gastro-enterologie"),
)
CLINICS = (
    ("CARD", "Consultation cardiologie / Raadpleging cardiologie"),
    ("ORTHO", "Consultation orthopédie / Raadpleging orthopedie"),
    ("ENDO", "Consultation endocrinologie / Raadpleging endocrinologie"),
    ("DERM", "Consultation dermatologie / Raadpleging dermatologie"),
)
FAMILY = (
    "Peeters",
    "Janssens",
    "Maes",
    "Jacobs",
    "Mertens",
    "Willems",
    "Claes",
    "Goossens",
    "Wouters",
    "De Smet",
    "Dubois",
    "Lambert",
    "Dupont",
    "Lefèvre",
    "Van den Broeck",
    "D'Hondt",
    "Verstraeten",
    "Noël",
    "Müller",
    "Çelik",
    "El Amrani",
    "O'Brien",
    "Vandenberghe",
    "Hermans",
    "Dumont",
    "Leclercq",
    "François",
    "Nguyễn",
    "Wójcik",
    "Ben Saïd",
)
GIVEN_F = (
    "Anaïs",
    "Zoë",
    "Chloé",
    "Héloïse",
    "Emma",
    "Louise",
    "Fatima",
    "Lotte",
    "Eline",
    "Anne-Sophie",
    "Maëlle",
    "Inès",
    "Marie-Thérèse",
)
GIVEN_M = (
    "Björn",
    "Noël",
    "Jérôme",
    "Lucas",
    "Mohamed",
    "Daan",
    "Thibault",
    "José",
    "Pieter-Jan",
    "Frédéric",
    "Gaëtan",
    "Arnaud",
    "Wim",
)
DOCTORS = (
    ("Dr.", "Vermeulen", "Katrien"),
    ("Dr.", "Lemaire", "Olivier"),
    ("Dr.", "De Clercq", "Sofie"),
    ("Dr.", "Mahieu", "Benoît"),
    ("Dr.", "Van Acker", "Hanne"),
    ("Dr.", "Renard", "Céline"),
    ("Dr.", "Bogaert", "Tom"),
    ("Dr.", "Fontaine", "Aurélie"),
)
CITIES = (
    ("1000", "Bruxelles"),
    ("2000", "Antwerpen"),
    ("9000", "Gent"),
    ("4000", "Liège"),
    ("1200", "Woluwe-Saint-Lambert"),
    ("3000", "Leuven"),
)
STREETS = (
    "Rue de la Loi",
    "Kerkstraat",
    "Chaussée de Wavre",
    "Nieuwstraat",
    "Avenue Louise",
    "Stationsstraat",
    "Rue Haute",
    "Molenstraat",
)

# Substance, SNOMED code, reaction, severity, criticality.
ALLERGIES = (
    ("Penicillin", "764146007", "Anaphylaxis", "severe", "high"),
    ("Amoxicillin", "372687004", "Urticaria", "moderate", "low"),
    ("Latex", "111088007", "Contact dermatitis", "mild", "low"),
    ("Iodinated contrast media", "293637006", "Bronchospasm", "severe", "high"),
    ("Peanut", "762952008", "Angioedema", "severe", "high"),
    ("Codeine", "387494007", "Nausea and vomiting", "mild", "low"),
    ("Sulfonamide antibiotics", "294530006", "Rash", "moderate", "low"),
    ("Ibuprofen", "387207008", "Gastrointestinal bleeding", "moderate", "high"),
    ("Morphine", "373529000", "Pruritus", "mild", "low"),
    ("Egg protein", "102263004", "Urticaria", "moderate", "low"),
)
NO_KNOWN_ALLERGY = ("No known allergy", "716186003")

# Drug, dose value, unit, route, (frequency, period, unit), times of day, PRN
# reason. A PRN order's timing is how often at most (every 4 h).
DRUGS = (
    (
        "Paracetamol 1 g tablet",
        1,
        "g",
        "Oral",
        (4, 1, "d"),
        ("06:00", "12:00", "18:00", "24:00"),
        "",
    ),
    ("Pantoprazole 40 mg tablet", 40, "mg", "Oral", (1, 1, "d"), ("08:00",), ""),
    (
        "Enoxaparin 40 mg/0.4 mL injection",
        40,
        "mg",
        "Subcutaneous",
        (1, 1, "d"),
        ("20:00",),
        "",
    ),
    ("Bisoprolol 2.5 mg tablet", 2.5, "mg", "Oral", (1, 1, "d"), ("08:00",), ""),
    ("Furosemide 40 mg tablet", 40, "mg", "Oral", (2, 1, "d"), ("08:00", "14:00"), ""),
    ("Amlodipine 5 mg tablet", 5, "mg", "Oral", (1, 1, "d"), ("08:00",), ""),
    ("Metformin 850 mg tablet", 850, "mg", "Oral", (2, 1, "d"), ("08:00", "18:00"), ""),
    (
        "Insulin glargine 100 units/mL",
        16,
        "U",
        "Subcutaneous",
        (1, 1, "d"),
        ("22:00",),
        "",
    ),
    ("Atorvastatin 40 mg tablet", 40, "mg", "Oral", (1, 1, "d"), ("20:00",), ""),
    (
        "Acetylsalicylic acid 80 mg tablet",
        80,
        "mg",
        "Oral",
        (1, 1, "d"),
        ("08:00",),
        "",
    ),
    (
        "Ceftriaxone 2 g powder for infusion",
        2,
        "g",
        "Intravenous",
        (1, 1, "d"),
        ("10:00",),
        "",
    ),
    (
        "Amoxicillin/clavulanic acid 1 g/200 mg IV",
        1.2,
        "g",
        "Intravenous",
        (3, 1, "d"),
        ("06:00", "14:00", "22:00"),
        "",
    ),
    (
        "Levothyroxine 75 microgram tablet",
        75,
        "ug",
        "Oral",
        (1, 1, "d"),
        ("06:00",),
        "",
    ),
    ("Ramipril 5 mg capsule", 5, "mg", "Oral", (1, 1, "d"), ("08:00",), ""),
    ("Apixaban 5 mg tablet", 5, "mg", "Oral", (2, 1, "d"), ("08:00", "20:00"), ""),
    (
        "Sodium chloride 0.9% 1000 mL infusion",
        1000,
        "mL",
        "Intravenous",
        (1, 1, "d"),
        ("08:00",),
        "",
    ),
    ("Macrogol 10 g sachet", 10, "g", "Oral", (1, 1, "d"), ("08:00",), ""),
    (
        "Morphine 10 mg/mL injection",
        5,
        "mg",
        "Subcutaneous",
        (1, 4, "h"),
        (),
        "Pain",
    ),
    (
        "Ondansetron 4 mg orodispersible tablet",
        4,
        "mg",
        "Oral",
        (1, 8, "h"),
        (),
        "Nausea",
    ),
    ("Lorazepam 1 mg tablet", 1, "mg", "Oral", (1, 8, "h"), (), "Anxiety"),
    ("Tramadol 50 mg capsule", 50, "mg", "Oral", (1, 6, "h"), (), "Pain"),
    (
        "Salbutamol 100 microgram inhaler",
        200,
        "ug",
        "Inhalation",
        (1, 4, "h"),
        (),
        "Shortness of breath",
    ),
)
# A PRN order's most per 24 hours, in its dose's unit.
PRN_MAX_PER_DAY = {
    "Morphine 10 mg/mL injection": 30,
    "Ondansetron 4 mg orodispersible tablet": 16,
    "Lorazepam 1 mg tablet": 3,
    "Tramadol 50 mg capsule": 400,
    "Salbutamol 100 microgram inhaler": 800,
}

# LOINC, name, unit, low, high, mean, spread.
VITALS = (
    ("8867-4", "Heart rate", "/min", 60, 100, 82, 14),
    ("9279-1", "Respiratory rate", "/min", 12, 20, 17, 3),
    ("8310-5", "Body temperature", "Cel", 36.1, 37.8, 37.0, 0.5),
    ("59408-5", "Oxygen saturation (SpO2)", "%", 94, 100, 96, 2),
)
LABS = (
    ("718-7", "Hemoglobin", "g/dL", 12.0, 16.0, 12.6, 1.8),
    ("6690-2", "Leukocytes", "10*9/L", 4.0, 10.0, 8.5, 3.0),
    ("2823-3", "Potassium", "mmol/L", 3.5, 5.1, 4.2, 0.5),
    ("2951-2", "Sodium", "mmol/L", 136, 145, 139, 4),
    ("2160-0", "Creatinine", "mg/dL", 0.6, 1.2, 1.1, 0.4),
    ("1988-5", "C reactive protein", "mg/L", 0, 5, 18, 25),
    ("2345-7", "Glucose", "mg/dL", 70, 110, 120, 30),
    ("1742-6", "Alanine aminotransferase (ALT)", "U/L", 7, 56, 35, 25),
    ("3016-3", "Thyrotropin (TSH)", "m[IU]/L", 0.4, 4.0, 2.0, 1.5),
)
PENDING_TESTS = (
    ("58410-2", "Complete blood count", "Blood (EDTA tube)"),
    ("24323-8", "Comprehensive metabolic panel", "Serum (gel tube)"),
    ("600-7", "Blood culture", "Blood culture bottles"),
    ("630-4", "Urine culture", "Urine (sterile container)"),
    ("3173-2", "aPTT", "Citrated plasma (blue tube)"),
    ("2524-7", "Lactate", "Arterial blood (heparin syringe)"),
)
PROBLEMS = (
    ("38341003", "Hypertensive disorder"),
    ("44054006", "Type 2 diabetes mellitus"),
    ("195967001", "Asthma"),
    ("13645005", "Chronic obstructive lung disease"),
    ("49436004", "Atrial fibrillation"),
    ("84114007", "Heart failure"),
    ("233604007", "Pneumonia"),
    ("68566005", "Urinary tract infection"),
    ("709044004", "Chronic kidney disease"),
    ("5353002", "Fracture of neck of femur"),
    ("230690007", "Cerebrovascular accident"),
    ("74400008", "Appendicitis"),
)
DIETS = (
    "Normal",
    "Diabetic",
    "Low salt",
    "Soft",
    "Nil by mouth",
    "Fluid restricted 1.5 L",
)
CODE_STATUS = (
    ("Full resuscitation", 70),
    ("Do not resuscitate (DNR)", 20),
    ("No intubation, no ICU", 10),
)
ISOLATION = (
    "Contact isolation (MRSA)",
    "Droplet isolation (influenza)",
    "Contact isolation (C. difficile)",
)

# The nurses who give the doses (Practitioners too: FHIR names them so).
NURSES = (
    ("Peeters", "Sofie"),
    ("Dubois", "Camille"),
    ("Janssens", "Lotte"),
    ("Lambert", "Julie"),
)
# Why a dose was not given, as a MAR records it.
NOT_GIVEN = (
    "Patient refused",
    "Nil by mouth before a procedure",
    "Patient off the ward",
    "Held: systolic blood pressure below 100",
)
# Imaging reports: (LOINC code, title, findings, conclusion).
IMAGING = (
    (
        "36643-5",
        "XR Chest 2 views",
        "PA and lateral views. Heart size within normal limits. Patchy airspace "
        "opacity in the right lower zone. No pleural effusion. No pneumothorax.",
        "Right lower lobe consolidation, compatible with pneumonia. Follow-up "
        "radiograph in 6 weeks advised.",
    ),
    (
        "24558-9",
        "CT Abdomen and pelvis with contrast",
        "Liver, spleen, pancreas and adrenals unremarkable. Gallbladder contains "
        "several calculi without wall thickening. Appendix normal. No free fluid.\n"
        "Bowel loops of normal calibre.",
        "Cholelithiasis without signs of cholecystitis. No acute abdominal finding.",
    ),
    (
        "24627-2",
        "CT Chest with contrast",
        "No filling defect in the pulmonary arteries to the subsegmental level. "
        "Small bilateral pleural effusions. Bibasal atelectasis.",
        "No pulmonary embolism. Small bilateral pleural effusions.",
    ),
    (
        "30704-1",
        "US Abdomen",
        "Kidneys of normal size without hydronephrosis. Bladder partly filled.",
        "No hydronephrosis.",
    ),
    (
        "24725-4",
        "CT Head without contrast",
        "No intracranial haemorrhage, mass effect or midline shift. Age-related "
        "small vessel changes.",
        "No acute intracranial abnormality.",
    ),
)
# An admission note's text, as a letter; {reason} is the stay's reason.
ADMISSION_NOTE = (
    "Admission note\n\n"
    "Reason for admission: {reason}.\n\n"
    "History: symptoms for three days, worsening since yesterday. Known to the "
    "service. Lives at home with family support.\n\n"
    "Examination: alert and oriented. Vital signs as charted.\n\n"
    "Plan: treatment as prescribed; review the results tomorrow morning; "
    "inform the family of the admission."
)
